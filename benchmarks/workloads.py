"""Benchmark workloads: model shape, batch shape, per-method settings.

Kept free of Keras imports so that the orchestrator (`run.py`) can read it
without importing a backend.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    arch: str
    overrides: dict
    batch: int
    source: int
    target: int
    steps: int  # timed training steps (after warm-up)
    warmup: int
    forward_repeats: int
    generate_repeats: int
    # Method settings that differ from the method's defaults (only where the
    # defaults do not fit the model, e.g. AdapterDrop's 5 dropped blocks of 6).
    method_settings: dict = dataclasses.field(default_factory=dict)


WORKLOADS = {
    # The workload: T5-small architecture, random weights.
    "t5-small": Workload(
        name="t5-small",
        arch="t5_small_multi",
        overrides={},
        batch=8,
        source=128,
        target=32,
        steps=8,
        warmup=2,
        forward_repeats=5,
        generate_repeats=3,
        # n=12 (the default) does not divide T5-small's d=512; n=8 is the
        # largest that divides d and m = d/32 = 16.
        method_settings={"phm-adapter": {"phm_dim": 8}},
    ),
    # A quick run: 2 blocks per stack, hidden 384 (the smallest size where
    # every method's defaults divide: phm-adapter's n=12 must divide d/32).
    "tiny": Workload(
        name="tiny",
        arch="t5_small_multi",
        overrides={
            "num_layers": 2,
            "num_heads": 6,
            "hidden_dim": 384,
            "intermediate_dim": 512,
            "key_value_dim": 64,
            "vocabulary_size": 1000,
        },
        batch=4,
        source=16,
        target=8,
        steps=5,
        warmup=2,
        forward_repeats=5,
        generate_repeats=2,
        method_settings={"adapterdrop": {"dropped_layers": 1}},
    ),
}

#: Every method of PAPER.md, plus `full` (the reference of every ratio) and
#: Keras's LoRA. `full` runs first.
METHODS = (
    "full",
    "compacter++",
    "bitfit",
    "compacter",
    "phm-adapter",
    "adapter",
    "pfeiffer-adapter",
    "adapterdrop",
    "adapter-lowrank",
    "prompt-tuning",
    "intrinsic-said",
    "lora",
)

BACKENDS = ("jax", "tensorflow", "torch")
