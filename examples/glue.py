"""A paper-style run on one GLUE or SuperGLUE task.

The paper's setup (PAPER.md, "Training setup"): T5-base, AdamW with linear
decay and 500 warm-up steps, batch 100, source length 128, 20 epochs on the
small tasks and 3 on the others, the best checkpoint by validation score,
decoding by generation, the paper's splits (validation carved out, the
official validation set as the test set), and the method's learning rate.

    # the official files, e.g. GLUE's RTE folder (train.tsv, dev.tsv):
    KERAS_BACKEND=jax python examples/glue.py --task rte --data-dir glue_data/RTE
    # or by name through tensorflow_datasets / Hugging Face datasets (online):
    KERAS_BACKEND=jax python examples/glue.py --task rte --source hf

Any other `keras-compacter train` flag passes through (`--method`,
`--set KEY=VALUE`, `--epochs`, `--export`, ...).
"""

import sys

from keras_compacter import cli

PAPER = [
    "--preset", "t5_base_multi",
    "--method", "compacter++",
    "--batch-size", "100",
    "--max-source-length", "128",
    "--warmup-steps", "500",
    "--paper-splits",
]  # fmt: skip


def main(argv):
    if "--task" not in argv:
        sys.exit("Pass --task NAME (e.g. rte, mrpc, cola, boolq) and --data-dir.")
    task = argv[argv.index("--task") + 1]
    argv = ["train", *PAPER, "--output", f"runs/{task}", *argv]
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
