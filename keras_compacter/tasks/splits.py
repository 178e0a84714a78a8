"""The paper's train/validation/test protocol (``split_validation_test``).

GLUE and SuperGLUE test labels are not public, so the Compacter paper's code
(``AbstractTask.get`` in ``seq2seq/data/tasks.py`` of github.com/rabeehk/compacter,
run with ``split_validation_test: true`` and ``data_seed`` 42) makes its own:

* small tasks (CoLA, STS-B, MRPC, RTE, WNLI, BoolQ, CB, COPA, MultiRC, WiC):
  the original validation set is shuffled and split in half: the first
  ``n // 2`` examples are the validation set, the rest the test set; the
  training set is the original one.
* large tasks (SST-2, QQP, QNLI, ReCoRD): the training set is shuffled; its
  first 1000 examples are the validation set, the rest the training set; the
  original validation set is the test set.
* MNLI is in neither list: train, validation = validation_mismatched,
  test = validation_matched. Pass those as `validation_examples` and
  `test_examples` to reproduce it (with ``test_examples=None`` the one
  validation set given is used for both).

The shuffle is ``torch.randperm(n, generator=torch.Generator().manual_seed(seed))``;
`randperm` below reproduces it exactly without torch (the same MT19937 stream,
the same swaps), so the splits are the paper's on any backend. MultiRC and
ReCoRD are split at the row level of Hugging Face ``super_glue`` (one row per
MultiRC answer / ReCoRD query), as there.
"""

from __future__ import annotations

import numpy as np

LARGE_VALIDATION_SIZE = 1000


def randperm(n, seed):
    """``torch.randperm(n, generator=torch.Generator().manual_seed(seed))``
    for CPU generators (n < 2**32 / 20), as a list, without torch."""
    n = int(n)
    order = list(range(n))
    if n < 2:
        return order
    state = np.random.RandomState(int(seed) & 0xFFFFFFFF)
    draws = state.randint(0, 2**32, size=n - 1, dtype=np.uint64)
    for i in range(n - 1):
        z = int(draws[i]) % (n - i)
        order[i], order[i + z] = order[i + z], order[i]
    return order


def paper_splits(
    task, train_examples, validation_examples, seed=42, test_examples=None
):
    """(train, validation, test) lists as the paper's code makes them (see the
    module docstring for the rule). `task` is a Task or a task name."""
    from keras_compacter.tasks import get_task

    task = get_task(task) if isinstance(task, str) else task
    train = list(train_examples)
    validation = list(validation_examples)
    kind = getattr(task, "paper_split", None)
    if kind == "small":
        order = randperm(len(validation), seed)
        half = len(validation) // 2
        return (
            train,
            [validation[i] for i in order[:half]],
            [validation[i] for i in order[half:]],
        )
    if kind == "large":
        order = randperm(len(train), seed)
        size = LARGE_VALIDATION_SIZE
        return (
            [train[i] for i in order[size:]],
            [train[i] for i in order[:size]],
            validation,
        )
    test = list(test_examples) if test_examples is not None else validation
    return train, validation, test


def subsample(examples, n, seed=42):
    """The paper's ``subsample`` (``max_train_samples`` etc.): the first `n`
    examples in ``randperm(len(examples), seed)`` order; all when n is None or
    too large. (After `paper_splits`, the paper instead keeps the first `n` of
    the already shuffled validation/test/large-task training lists.)"""
    examples = list(examples)
    if n is None:
        return examples
    order = randperm(len(examples), seed)
    return [examples[i] for i in order[: max(0, int(n))]]
