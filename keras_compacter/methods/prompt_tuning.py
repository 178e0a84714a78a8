"""`prompt-tuning`: trainable vectors in front of the encoder's input."""

import dataclasses

import numpy as np
from keras import ops

from keras_compacter.layers import PromptEmbedding
from keras_compacter.methods.base import MethodConfig, Trained

INITS = ("uniform", "vocabulary")


@dataclasses.dataclass
class PromptTuningConfig(MethodConfig):
    """`length` vectors prepended to the encoder's input embeddings (Lester
    et al. 2021); the encoder mask is extended, and the decoder
    cross-attends to them like to any encoder position. Nothing else trains.

    Args:
        length: number of prompt vectors (100).
        init: `"uniform"` (U(-0.5, 0.5)) or `"vocabulary"` (copies of the
            embeddings of tokens drawn from the first 5000 of the vocabulary).
        seed: seed of the vocabulary draw.
        learning_rate: defaults to the paper's: 3e-2 (uniform), 3e-1
            (vocabulary).
    """

    length: int = 100
    init: str = "uniform"
    seed: int = 0
    learning_rate: float | None = None

    name = "prompt-tuning"
    description = "Soft prompt vectors prepended to the encoder input (Lester et al.)."

    @property
    def default_learning_rate(self):
        if self.learning_rate is not None:
            return self.learning_rate
        return 3e-1 if self.init == "vocabulary" else 3e-2

    def validate(self, wiring):
        wiring.require_task("Prompt tuning (prompts must reach generate())")
        if self.init not in INITS:
            raise ValueError(f"Unknown prompt init {self.init!r}; valid: {INITS}.")
        if int(self.length) < 1:
            raise ValueError(f"The prompt length must be >= 1, got {self.length}.")

    def apply(self, wiring):
        prompt = PromptEmbedding(self.length, name="prompt_embedding")
        prompt.build((None, None, wiring.hidden_dim))
        if self.init == "vocabulary":
            rng = np.random.default_rng(self.seed)
            ids = rng.integers(0, min(5000, wiring.vocabulary_size), self.length)
            table = wiring.backbone.token_embedding.embeddings
            prompt.embeddings.assign(
                ops.take(table, ops.convert_to_tensor(ids), axis=0)
            )
        wiring.prefix_encoder_input(prompt)
        return [Trained("prompts", "encoder/prompt/embeddings", prompt.embeddings)]
