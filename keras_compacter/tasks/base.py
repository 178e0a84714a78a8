"""The `Task` base class: loading, text-to-text conversion and scoring."""

from __future__ import annotations

import os
import warnings

import numpy as np

from keras_compacter.tasks import metrics as metrics_lib
from keras_compacter.tasks.files import DataError, read_table, resolve_column

SPLITS = ("train", "validation", "test")
SOURCES = ("files", "hf", "tfds")


def at(path, where):
    """'file, line 3' / 'file, item 2' for messages."""
    if where is None:
        return str(path)
    if isinstance(where, int):
        return f"{path}, line {where}"
    return f"{path}, {where}"


class Location:
    """A row's place in a file, formatted only when a message needs it."""

    __slots__ = ("path", "where")

    def __init__(self, path, where):
        self.path = path
        self.where = where

    def __str__(self):
        return at(self.path, self.where)


class Targets(list):
    """The target strings of `text_pairs`, plus `references`: per target, what
    a task's metric needs besides the string (MultiRC: the question id,
    ReCoRD: all correct answers), or None. `Task.score` reads it."""

    references = None


class Task:
    """One text-to-text task (see `keras_compacter.tasks`).

    Class attributes describe the task; instances hold no state, so one task
    object can be shared.
    """

    #: registry name (``tasks.get_task(name)``)
    name: str = ""
    #: what ``add_prefix=True`` puts first: the task name of the paper's code
    prefix: str = ""
    #: the metrics `score` returns, in percent
    metric_names: tuple[str, ...] = ("accuracy",)
    #: the target strings the task knows (None: regression / free text)
    labels: tuple[str, ...] | None = None

    #: the paper's ``labels_list``: the target strings whose longest tokenization
    #: sets its generation length (STS-B: "0.0", "0.2", ..., "5.0"; None: free
    #: text). Defaults to `labels`.
    @property
    def labels_list(self):
        return self.labels

    #: the class names of the labels, in index order (Hugging Face ClassLabel)
    label_names: tuple[str, ...] | None = None
    #: "glue" or "super_glue"
    benchmark: str = ""
    #: the official folder name, e.g. "SST-2"
    folder: str = ""
    #: split -> official file name inside the folder
    split_files: dict = {}
    #: canonical (Hugging Face) field -> column names accepted in files
    fields: dict = {}
    #: column names accepted for the label
    label_aliases: tuple[str, ...] = ("label",)
    #: (marker, field) pairs of the source text, as the paper's `src_texts`
    template: tuple = ()
    #: Hugging Face `datasets` (path, config) candidates, and split names
    hf_paths: tuple = ()
    hf_splits: dict = {}
    #: tensorflow_datasets name and split names
    tfds_name: str = ""
    tfds_splits: dict = {}
    #: the paper's split protocol: "small", "large" or None (see paper_splits)
    paper_split: str | None = None
    #: where the template comes from (for the docs)
    source_ref: str = ""

    def __repr__(self):
        return f"<Task {self.name}: metrics={self.metric_names}>"

    # ------------------------------------------------------------------ loading
    @property
    def splits(self):
        return tuple(self.split_files) or SPLITS

    def layout(self):
        """A sentence describing the official files, for error messages."""
        if not self.split_files:
            return ""
        names = ", ".join(self.split_files.values())
        bench = "GLUE" if self.benchmark == "glue" else "SuperGLUE"
        return (
            f"The official {bench} layout is a folder {self.folder}/ with {names}; "
            f"pass data_dir=<that folder> (or its parent), or path=<one file>."
        )

    def load(self, split, data_dir=None, path=None, source="files"):
        """Raw examples of `split` as dicts in the Hugging Face field layout
        (e.g. ``{"sentence1", "sentence2", "label", "idx"}``, label = class
        index, -1 when the file has no labels, as the official test files).

        data_dir: the official folder (file names as `split_files`);
        path: one file (.tsv/.csv/.jsonl/.json by extension), in the official
        format or with the Hugging Face column names; source="hf"/"tfds": by
        name through Hugging Face `datasets` / `tensorflow_datasets`.
        """
        if split not in self.splits:
            raise DataError(
                f"unknown split {split!r} for task {self.name}. Valid splits: "
                f"{', '.join(self.splits)}."
            )
        if source not in SOURCES:
            raise DataError(
                f"unknown data source {source!r}. Valid sources: "
                f"{', '.join(SOURCES)} (files: data_dir= or path=)."
            )
        if source == "hf":
            return self._load_hf(split)
        if source == "tfds":
            return self._load_tfds(split)
        if path is not None and data_dir is not None:
            raise DataError(
                "give either data_dir= (the task's folder) or path= (one file), "
                "not both."
            )
        if path is None:
            if data_dir is None:
                raise DataError(
                    f"no data for task {self.name}: give data_dir= (the official "
                    f"folder), path= (one file) or source='hf'/'tfds'. " + self.layout()
                )
            path = self.find_file(split, data_dir)
        return self.read_file(path, split)

    def find_file(self, split, data_dir):
        filename = self.split_files.get(split)
        if filename is None:
            raise DataError(f"task {self.name} has no official {split!r} file.")
        candidates = [os.path.join(data_dir, filename)]
        if self.folder:
            candidates.append(os.path.join(data_dir, self.folder, filename))
        for candidate in candidates:
            if os.path.isfile(candidate):
                return candidate
        if not os.path.isdir(data_dir):
            raise DataError(f"data directory not found: {data_dir}. " + self.layout())
        present = sorted(os.listdir(data_dir))[:20]
        raise DataError(
            f"no {split} file for task {self.name}: expected {candidates[0]}"
            + (f" (or {candidates[1]})" if len(candidates) > 1 else "")
            + f". Files in {data_dir}: {', '.join(present) or '(none)'}. "
            + self.layout()
        )

    def read_file(self, path, split):
        columns, rows = read_table(str(path), hint=self.layout())
        return self.normalize_rows(columns, rows, str(path), split)

    def normalize_rows(self, columns, rows, path, split):
        """Map file/library rows to canonical examples, checking every row."""
        check_not_empty(rows, path, self.name, split)
        resolved = {
            field: resolve_column(
                columns, aliases, path, f"the {field} text of {self.name}"
            )
            for field, aliases in self.fields.items()
        }
        label_column = resolve_column(
            columns, self.label_aliases, path, "the label", required=False
        )
        if label_column is None and rows and not split.startswith("test"):
            present = ", ".join(repr(c) for c in columns)
            wanted = self.label_aliases
            raise DataError(
                f"{path}: no label column ({' or '.join(map(repr, wanted))})"
                f" in the {split} split of {self.name}. Columns present: {present}. "
                "Only test files may come without labels."
            )
        idx_column = resolve_column(
            columns, ("idx", "index", "id"), path, "", required=False
        )
        examples = []
        items = list(resolved.items())
        for number, (where, row) in enumerate(rows):
            example = {}
            for field, column in items:
                value = row.get(column)
                if not isinstance(value, str):
                    value = self.text_value(value, column, at(path, where))
                example[field] = value
            value = row.get(label_column) if label_column is not None else None
            example["label"] = self.parse_label(value, Location(path, where))
            idx = row.get(idx_column) if idx_column is not None else None
            example["idx"] = _parse_idx(idx, number)
            examples.append(example)
        return examples

    def text_value(self, value, column, where):
        if isinstance(value, str):
            return value
        if value is None:
            raise DataError(f"{where}: missing field {column!r}. Every row needs it.")
        raise DataError(
            f"{where}: field {column!r} should be text, found "
            f"{type(value).__name__} {value!r}."
        )

    def label_help(self):
        if self.label_names is None:
            return ""
        return ", ".join(f"{i} ({n})" for i, n in enumerate(self.label_names))

    def _label_lookup(self):
        """{"0": 0, "entailment": 0, ...}: digit strings and (lower-cased)
        class names -> index, "-1" -> -1 (unlabeled)."""
        lookup = self.__dict__.get("_lookup")
        if lookup is None:
            lookup = {"-1": -1}
            for i, name in enumerate(self.label_names):
                lookup[str(i)] = lookup[name] = lookup[name.lower()] = i
            self._lookup = lookup
        return lookup

    def parse_label(self, value, where):
        """The Hugging Face class index of a label from any accepted form
        (index, digit string, class name, JSON bool); -1 when absent."""
        if value is None:
            return -1
        n = len(self.label_names)
        index = None
        if isinstance(value, str):
            lookup = self._label_lookup()
            index = lookup.get(value)
            if index is None:
                index = lookup.get(value.strip().lower())
            if index is not None:
                return index
        if isinstance(value, bool):
            if n == 2:
                index = int(value)
        elif isinstance(value, int):
            index = value
        elif isinstance(value, float) and value.is_integer():
            index = int(value)
        elif isinstance(value, str):
            text = value.strip()
            if text.lstrip("-").isdigit():
                index = int(text)
            else:
                lowered = [name.lower() for name in self.label_names]
                if text.lower() in lowered:
                    index = lowered.index(text.lower())
        if index == -1:
            return -1
        if index is None or not 0 <= index < n:
            raise DataError(
                f"{where}: unknown label {value!r} for task {self.name}. Valid "
                f"labels: {self.label_help()}. Fix the row, or check that the "
                "file belongs to this task."
            )
        return index

    # -------------------------------------------------------- library sources
    def _load_hf(self, split):
        if not self.hf_paths:
            raise DataError(
                f"task {self.name} cannot be loaded by name: give path= (one "
                "file) or data_dir= (a folder)."
            )
        try:
            import datasets
        except ImportError:
            raise DataError(
                "source='hf' needs the Hugging Face `datasets` package, which is "
                "not installed: pip install datasets (and be online), or use the "
                "official files with data_dir=. " + self.layout()
            ) from None
        hf_split = self.hf_splits.get(split, split)
        errors = []
        for hf_path in self.hf_paths:
            try:
                dataset = datasets.load_dataset(*hf_path, split=hf_split)
            except Exception as error:  # offline, unknown name, ...
                errors.append(f"{'/'.join(hf_path)}: {type(error).__name__}: {error}")
                continue
            rows = [(f"row {i}", dict(row)) for i, row in enumerate(dataset)]
            columns = list(getattr(dataset, "column_names", None) or [])
            if not columns and rows:
                columns = list(rows[0][1])
            name = f"datasets:{'/'.join(hf_path)}[{hf_split}]"
            return self.normalize_rows(columns, rows, name, split)
        raise DataError(
            f"could not load {self.name} ({hf_split}) with Hugging Face datasets "
            f"({'; '.join(errors)[:500]}). Offline? Download the official files "
            "and pass data_dir=. " + self.layout()
        )

    def _load_tfds(self, split):
        if not self.tfds_name:
            raise DataError(
                f"task {self.name} cannot be loaded by name: give path= (one "
                "file) or data_dir= (a folder)."
            )
        try:
            import tensorflow_datasets as tfds
        except ImportError:
            raise DataError(
                "source='tfds' needs `tensorflow_datasets`, which is not "
                "installed: pip install tensorflow-datasets (and be online), or "
                "use the official files with data_dir=. " + self.layout()
            ) from None
        tfds_split = self.tfds_splits.get(split, split)
        try:
            dataset = tfds.load(self.tfds_name, split=tfds_split, shuffle_files=False)
            rows = [
                (f"row {i}", _from_numpy(row))
                for i, row in enumerate(tfds.as_numpy(dataset))
            ]
        except Exception as error:
            raise DataError(
                f"could not load {self.tfds_name} ({tfds_split}) with "
                f"tensorflow_datasets ({type(error).__name__}: {str(error)[:300]})."
                " Offline? Download the official files and pass data_dir=. "
                + self.layout()
            ) from None
        columns = list(rows[0][1]) if rows else []
        name = f"tfds:{self.tfds_name}[{tfds_split}]"
        return self.normalize_rows(columns, rows, name, split)

    # ------------------------------------------------------------ text-to-text
    def field(self, example, name):
        try:
            value = example[name]
        except (KeyError, TypeError):
            fields = sorted(example) if isinstance(example, dict) else example
            raise DataError(
                f"{self.name} example has no field {name!r} (it has {fields}). "
                f"Load examples with tasks.get_task({self.name!r}).load(...)."
            ) from None
        return value

    def source(self, example, add_prefix=False):
        parts = [self.prefix] if add_prefix else []
        for marker, name in self.template:
            parts += [marker, self.field(example, name)]
        return " ".join(parts)

    def target(self, example):
        """str(label), as the paper; None for an unlabeled example."""
        label = example.get("label") if isinstance(example, dict) else None
        if label is None or (not isinstance(label, str) and label == -1):
            return None
        return str(label)

    def pairs(self, example, add_prefix=False):
        """[(source, target, reference)]: one pair per example, except tasks
        (ReCoRD) that make several."""
        return [(self.source(example, add_prefix), self.target(example), None)]

    def to_text(self, example, add_prefix=False):
        """(source, target) exactly as the paper's code; target None when the
        example has no label."""
        source, target, _ = self.pairs(example, add_prefix)[0]
        return source, target

    def check_target(self, target, where):
        """Raise a DataError when `target` is a label the task does not know."""
        if self.labels is not None and target not in self.labels:
            names = f" (class indices: {self.label_help()})" if self.label_names else ""
            raise DataError(
                f"{where}: unknown label {target!r} for task {self.name}. Valid "
                f"labels: {', '.join(self.labels)}{names}. Fix the example or "
                "pick the right task."
            )

    # ---------------------------------------------------------------- scoring
    def score(self, predictions, targets, references=None):
        """The task's metrics (percent) from generated and target strings."""
        predictions, targets = _strings(predictions, targets)
        out = {}
        for name in self.metric_names:
            out.update(metrics_lib.SIMPLE_METRICS[name](predictions, targets))
        return {name: float(out[name]) for name in self.metric_names}

    def main_score(self, metrics):
        """The mean of the task's metrics present in `metrics`: the paper's
        ``average_metrics``, which picks the best checkpoint."""
        values = [float(metrics[n]) for n in self.metric_names if n in metrics]
        if not values:
            raise KeyError(
                f"none of the metrics of {self.name} ({', '.join(self.metric_names)})"
                f" in {sorted(metrics)}"
            )
        return float(np.mean(values))


def check_not_empty(rows, path, name, split):
    if not rows:
        raise DataError(
            f"{path}: empty split: no examples of {name} ({split}) in it, only "
            "a header or blank lines. Point to the right file or fill it."
        )


def _strings(predictions, targets):
    predictions = [str(p).strip() for p in predictions]
    out = []
    for i, t in enumerate(targets):
        if t is None:
            raise ValueError(
                f"target {i} is None (an unlabeled example): score() needs "
                "labeled examples."
            )
        out.append(str(t).strip())
    return predictions, out


def _parse_idx(value, default):
    if value is None or value == "":
        return default
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    return value


def _from_numpy(value):
    """tensorflow_datasets rows -> plain Python (bytes decoded as UTF-8)."""
    if isinstance(value, dict):
        return {k: _from_numpy(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return [_from_numpy(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_from_numpy(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def warn_no_references(task):
    warnings.warn(
        f"{task}: no references given to score(); pass the targets list "
        "returned by tasks.text_pairs (or references=) for the exact metric.",
        stacklevel=3,
    )
