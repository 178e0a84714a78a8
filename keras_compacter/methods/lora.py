"""`lora`: Keras's own LoRA on T5's attention projections (beyond the paper)."""

import dataclasses

from keras_compacter.methods.base import MethodConfig, Trained

TARGETS = ("query", "key", "value", "output")


@dataclasses.dataclass
class LoRAConfig(MethodConfig):
    """`Dense.enable_lora(rank)` on the chosen attention projections.

    Args:
        rank: LoRA rank (8).
        targets: projections of every attention sublayer (self- and
            cross-attention), from `("query", "key", "value", "output")`.
        alpha: LoRA scale numerator; defaults to `rank` (Keras's default).
        learning_rate: not from the paper; 5e-4.
    """

    rank: int = 8
    targets: tuple = ("query", "value")
    alpha: float | None = None
    learning_rate: float = 5e-4

    name = "lora"
    description = "Keras's LoRA on the attention query and value projections."

    def __post_init__(self):
        self.targets = tuple(self.targets)

    def validate(self, wiring):
        bad = [t for t in self.targets if t not in TARGETS]
        if bad or not self.targets:
            raise ValueError(
                f"Invalid LoRA targets {list(self.targets)}; choose from "
                f"{list(TARGETS)}."
            )
        if int(self.rank) < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {self.rank}.")

    def apply(self, wiring):
        trained = []
        for key, dense in wiring.attention_projections():
            if key.rsplit("/", 1)[-1] not in self.targets:
                continue
            dense.enable_lora(self.rank, lora_alpha=self.alpha)
            wiring.on_disable(*_lora_switches(dense))
            for variable in (dense.lora_kernel_a, dense.lora_kernel_b):
                trained.append(Trained("lora", f"{key}/{variable.name}", variable))
        return trained


def _lora_switches(dense):
    def switch_off():
        dense.lora_enabled = False

    def switch_on():
        dense.lora_enabled = True

    return switch_off, switch_on
