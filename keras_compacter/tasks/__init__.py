"""GLUE and SuperGLUE as text-to-text tasks, as the Compacter paper's code.

    from keras_compacter import tasks
    task = tasks.get_task("mrpc")
    train = task.load("train", data_dir="glue_data/MRPC")
    sources, targets = tasks.text_pairs(task, train)
    ...
    task.score(predictions, targets)       # {"f1": ..., "accuracy": ...}

Tasks: the GLUE and SuperGLUE tasks of the paper (`names()`), and
`custom_task(...)` for any CSV/TSV/JSONL with named columns. Every problem with
the data is a `DataError` (a ValueError) that names the file, line, column or
label and the fix. This package does not import Keras.
"""

from __future__ import annotations

from keras_compacter.tasks.base import Targets, Task
from keras_compacter.tasks.custom import CustomTask
from keras_compacter.tasks.files import DataError
from keras_compacter.tasks.glue import GLUE_TASKS
from keras_compacter.tasks.splits import paper_splits, randperm, subsample
from keras_compacter.tasks.superglue import SUPERGLUE_TASKS


class UnknownTaskError(DataError):
    """A task name that is not registered (the message lists the valid ones)."""


_REGISTRY = {cls.name: cls for cls in GLUE_TASKS + SUPERGLUE_TASKS}

#: other spellings accepted by get_task
ALIASES = {
    "sst-2": "sst2",
    "sts-b": "stsb",
    "superglue-boolq": "boolq",
    "superglue-cb": "cb",
    "superglue-copa": "copa",
    "superglue-multirc": "multirc",
    "superglue-record": "record",
    "superglue-wic": "wic",
}


def names():
    """The registered task names (GLUE, then SuperGLUE)."""
    return list(_REGISTRY)


def get_task(name):
    """The task called `name` (case-insensitive; e.g. "sst2", "superglue-cb")."""
    if isinstance(name, Task):
        return name
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise UnknownTaskError(
            f"unknown task {name!r}. Known tasks: {', '.join(names())}. For other "
            "data use a custom task (tasks.custom_task(input_columns, "
            "target_column) / the CLI's column options)."
        )
    return _REGISTRY[key]()


def custom_task(
    input_columns, target_column, metric="accuracy", name="custom", labels=None
):
    """A task on any CSV/TSV/JSONL/JSON file: source ``"col1: v1 col2: v2"``,
    target the `target_column` text. `metric`: one name or a list of
    accuracy, f1, matthews_correlation, pearson, spearmanr, f1_multiclass, em.
    `labels`: the valid target strings (checked by `text_pairs`)."""
    return CustomTask(
        input_columns, target_column, metric=metric, name=name, labels=labels
    )


def text_pairs(task, examples, add_prefix=False, require_targets=True):
    """(sources, targets) of `examples`, checked before any training.

    Raises DataError for an empty split, an example without a label (when
    `require_targets`) and a target the task does not know (naming the example
    and the valid labels). ReCoRD gives one pair per correct answer (as the
    paper). `targets` is a list (`Targets`) whose `references` attribute holds
    what MultiRC/ReCoRD scoring needs; pass it to `Task.score` unchanged.
    """
    task = get_task(task) if isinstance(task, str) else task
    examples = list(examples)
    if not examples:
        raise DataError(
            f"empty split: no examples for task {task.name}. Check the file (and "
            "any limit on the number of examples)."
        )
    sources = []
    targets = Targets()
    references = []
    for i, example in enumerate(examples):
        if not isinstance(example, dict):
            raise DataError(
                f"example {i} of {task.name} is a {type(example).__name__}, not a "
                "dict of fields: load examples with task.load(...)."
            )
        for source, target, reference in task.pairs(example, add_prefix):
            where = f"example {i} (idx {example.get('idx', i)!r})"
            if target is None:
                if require_targets:
                    raise DataError(
                        f"{where} of {task.name} has no label: training and "
                        "evaluation need labeled examples (the official test "
                        "files are unlabeled: use the validation file, or "
                        "tasks.paper_splits)."
                    )
            else:
                task.check_target(target, where)
            sources.append(source)
            targets.append(target)
            references.append(reference)
    if any(r is not None for r in references):
        targets.references = references
    return sources, targets


__all__ = [
    "ALIASES",
    "CustomTask",
    "DataError",
    "Targets",
    "Task",
    "UnknownTaskError",
    "custom_task",
    "get_task",
    "names",
    "paper_splits",
    "randperm",
    "subsample",
    "text_pairs",
]
