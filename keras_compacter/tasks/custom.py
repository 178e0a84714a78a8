"""Tasks on any CSV/TSV/JSONL/JSON file with named input and target columns.

The source text is ``"col1: v1 col2: v2"`` (the paper's ``src_texts`` style:
each column name with a colon, then its value, joined by spaces); the target is
the target column's value as text.
"""

from __future__ import annotations

import os

from keras_compacter.tasks import metrics as metrics_lib
from keras_compacter.tasks.base import Task, _strings
from keras_compacter.tasks.files import DataError, read_table

METRICS = (
    "accuracy",
    "f1",
    "matthews_correlation",
    "pearson",
    "spearmanr",
    "f1_multiclass",
    "em",
)

#: split -> file stems tried in a data_dir (any supported extension)
CUSTOM_STEMS = {
    "train": ("train",),
    "validation": ("validation", "dev", "val", "valid"),
    "test": ("test",),
}
EXTENSIONS = (".jsonl", ".tsv", ".csv", ".json")


class CustomTask(Task):
    """A task defined by column names instead of a benchmark."""

    labels_list = None  # set from labels in __init__

    def __init__(
        self,
        input_columns,
        target_column,
        metric="accuracy",
        name="custom",
        labels=None,
    ):
        if isinstance(input_columns, str):
            input_columns = [input_columns]
        input_columns = list(input_columns or ())
        if not input_columns or not all(
            isinstance(c, str) and c for c in input_columns
        ):
            raise DataError(
                "custom_task needs input_columns: a non-empty list of column names "
                "(e.g. ['question', 'context'])."
            )
        if not isinstance(target_column, str) or not target_column:
            raise DataError("custom_task needs target_column: the name of a column.")
        reserved = [c for c in input_columns if c in ("label", "idx")]
        if reserved or target_column in input_columns:
            raise DataError(
                f"custom_task: input column {(reserved or [target_column])[0]!r} "
                "cannot be an input: loaded examples keep the target under "
                "'label' and the row id under 'idx', and the target column is "
                "not an input. Rename the column in the file."
            )
        metric_names = (metric,) if isinstance(metric, str) else tuple(metric)
        unknown = [m for m in metric_names if m not in METRICS]
        if not metric_names or unknown:
            raise DataError(
                f"unknown metric {', '.join(map(repr, unknown)) or '(none)'}. Valid "
                f"metrics: {', '.join(METRICS)}."
            )
        if labels is not None:
            labels = tuple(str(label) for label in labels)
            if not labels:
                raise DataError("labels, when given, must list at least one label.")
        if "f1_multiclass" in metric_names and not labels:
            raise DataError("metric 'f1_multiclass' needs labels= (the classes).")
        self.name = name
        self.prefix = name
        self.input_columns = tuple(input_columns)
        self.target_column = target_column
        self.metric_names = metric_names
        self.labels = labels
        self.labels_list = labels
        self.fields = {c: (c,) for c in input_columns}
        self.label_aliases = (target_column,)
        self.template = tuple((f"{c}:", c) for c in input_columns)
        self.paper_split = None

    def __repr__(self):
        return (
            f"<CustomTask {self.name}: {list(self.input_columns)} -> "
            f"{self.target_column!r}, metrics={self.metric_names}>"
        )

    @property
    def splits(self):
        return tuple(CUSTOM_STEMS)

    def layout(self):
        return (
            "Pass path=<file> (.jsonl/.tsv/.csv/.json), or data_dir=<folder> "
            "holding train.*, dev.* (or validation.*, val.*) and test.*."
        )

    def find_file(self, split, data_dir):
        if not os.path.isdir(data_dir):
            raise DataError(f"data directory not found: {data_dir}. " + self.layout())
        tried = []
        for stem in CUSTOM_STEMS[split]:
            for ext in EXTENSIONS:
                candidate = os.path.join(data_dir, stem + ext)
                tried.append(os.path.basename(candidate))
                if os.path.isfile(candidate):
                    return candidate
        raise DataError(
            f"no {split} file in {data_dir}: tried {', '.join(tried)}. " + self.layout()
        )

    def read_file(self, path, split):
        columns, rows = read_table(str(path), hint=self.layout())
        return self.normalize_rows(columns, rows, str(path), split)

    def text_value(self, value, column, where):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return super().text_value(value, column, where)

    def parse_label(self, value, where):
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, (int, float, str)):
            return str(value)
        raise DataError(
            f"{where}: the target {self.target_column!r} should be text or a "
            f"number, found {type(value).__name__}."
        )

    def target(self, example):
        label = example.get("label") if isinstance(example, dict) else None
        return None if label is None else str(label)

    def label_help(self):
        return ", ".join(self.labels or ())

    def score(self, predictions, targets, references=None):
        predictions, targets = _strings(predictions, targets)
        out = {}
        for name in self.metric_names:
            if name == "f1":
                if self.labels and len(self.labels) == 2:
                    negative, positive = self.labels
                else:
                    negative, positive = "0", "1"
                out.update(
                    metrics_lib.f1_with_invalid(
                        predictions, targets, positive, negative
                    )
                )
            elif name == "f1_multiclass":
                out.update(metrics_lib.macro_f1(predictions, targets, self.labels))
            elif name == "em":
                out["em"] = metrics_lib.squad(predictions, targets)["em"]
            else:
                out.update(metrics_lib.SIMPLE_METRICS[name](predictions, targets))
        return {name: float(out[name]) for name in self.metric_names}
