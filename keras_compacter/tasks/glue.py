"""The GLUE tasks, as the Compacter paper's code converts them.

Templates, targets, metrics and split lists follow ``seq2seq/data/tasks.py``
and ``seq2seq/metrics/metrics.py`` of github.com/rabeehk/compacter: the source
is ``" ".join([prefix?] + src_texts)`` with ``src_texts`` the marker/field pairs
below, the target is ``str(label)`` with label the Hugging Face class index
(STS-B: the score rounded to one decimal). Files are the official GLUE TSVs
(``glue_data/<Task>/train.tsv``, ``dev.tsv``, ``test.tsv``), read with
csv.QUOTE_NONE; their columns are mapped to the Hugging Face names.
"""

from __future__ import annotations

import numpy as np

from keras_compacter.tasks.base import Task
from keras_compacter.tasks.files import DataError, read_delimited

SOURCE = "rabeehk/compacter seq2seq/data/tasks.py"

GLUE_FILES = {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}


class GlueTask(Task):
    benchmark = "glue"
    labels = ("0", "1")
    split_files = GLUE_FILES
    source_ref = SOURCE

    @property
    def hf_paths(self):
        return (("glue", self.name), ("nyu-mll/glue", self.name))

    @property
    def tfds_name(self):
        return f"glue/{self.name}"


class CoLA(GlueTask):
    name = prefix = "cola"
    folder = "CoLA"
    metric_names = ("matthews_correlation",)
    label_names = ("unacceptable", "acceptable")
    fields = {"sentence": ("sentence",)}
    template = (("sentence:", "sentence"),)
    paper_split = "small"

    #: CoLA train/dev TSVs have no header: source, label, original mark, sentence
    HEADERLESS = ("source", "label", "label_notes", "sentence")

    def read_file(self, path, split):
        path = str(path)
        if path.lower().endswith(".tsv") and _cola_headerless(path):
            columns, rows = read_delimited(path, "\t", header=False, hint=self.layout())
            if len(columns) != 4:
                raise DataError(
                    f"{path}, line 1: a CoLA train/dev file has 4 tab-separated "
                    f"fields (source, label, original label mark, sentence), "
                    f"found {len(columns)}."
                )
            rows = [
                (where, {self.HEADERLESS[k]: v for k, v in row.items()})
                for where, row in rows
            ]
            return self.normalize_rows(list(self.HEADERLESS), rows, path, split)
        return super().read_file(path, split)


def _cola_headerless(path):
    """True when the first line looks like CoLA data (4 fields, label 0/1)."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            first = f.readline().rstrip("\r\n").split("\t")
    except (OSError, UnicodeDecodeError):
        return False  # read_delimited reports it
    return len(first) == 4 and first[1].strip() in ("0", "1")


class SST2(GlueTask):
    name = prefix = "sst2"
    folder = "SST-2"
    label_names = ("negative", "positive")
    fields = {"sentence": ("sentence",)}
    template = (("sentence:", "sentence"),)
    paper_split = "large"


class MRPC(GlueTask):
    name = prefix = "mrpc"
    folder = "MRPC"
    metric_names = ("f1", "accuracy")
    label_names = ("not_equivalent", "equivalent")
    fields = {
        "sentence1": ("sentence1", "#1 String"),
        "sentence2": ("sentence2", "#2 String"),
    }
    label_aliases = ("label", "Quality")
    template = (("sentence1:", "sentence1"), ("sentence2:", "sentence2"))
    paper_split = "small"


class QQP(GlueTask):
    name = prefix = "qqp"
    folder = "QQP"
    metric_names = ("f1", "accuracy")
    label_names = ("not_duplicate", "duplicate")
    fields = {"question1": ("question1",), "question2": ("question2",)}
    label_aliases = ("label", "is_duplicate")
    template = (("question1:", "question1"), ("question2:", "question2"))
    paper_split = "large"


#: STS-B targets the paper's code declares: "0.0", "0.2", ..., "5.0"
STSB_GRID = tuple(str(np.round(v, decimals=1)) for v in np.arange(0, 5.2, 0.2))


def round_stsb(score):
    """The paper's ``round_stsb_target``: ``np.round((label * 5) / 5, 1)``,
    i.e. rounded to one decimal (not to the 0.2 grid its docstring describes),
    of the float32 score Hugging Face datasets stores."""
    value = float(np.float32(score))
    return str(float(np.round((value * 5) / 5, decimals=1)))


class STSB(GlueTask):
    name = prefix = "stsb"
    folder = "STS-B"
    metric_names = ("pearson", "spearmanr")
    labels = None  # regression: targets are any score in [0, 5]
    labels_list = STSB_GRID
    fields = {"sentence1": ("sentence1",), "sentence2": ("sentence2",)}
    label_aliases = ("label", "score")
    template = (("sentence1:", "sentence1"), ("sentence2:", "sentence2"))
    paper_split = "small"

    def label_help(self):
        return "a similarity score from 0 to 5"

    def parse_label(self, value, where):
        if value is None:
            return -1
        try:
            score = float(value)
        except (TypeError, ValueError):
            score = None
        if (
            isinstance(value, bool)
            or score is None
            or not (0.0 <= score <= 5.0 or score == -1.0)
        ):
            raise DataError(
                f"{where}: unknown label {value!r} for task stsb: the label is a "
                "similarity score from 0 to 5 (e.g. 3.8). Fix the row."
            )
        return score

    def target(self, example):
        label = example.get("label") if isinstance(example, dict) else None
        if label is None or label == -1:
            return None
        try:
            return round_stsb(float(label))
        except (TypeError, ValueError):
            return str(label)

    def check_target(self, target, where):
        try:
            score = float(target)
        except (TypeError, ValueError):
            score = None
        if score is None or not 0.0 <= score <= 5.0:
            raise DataError(
                f"{where}: unknown label {target!r} for task stsb: the label is a "
                "similarity score from 0 to 5. Fix the example."
            )


class MNLI(GlueTask):
    name = prefix = "mnli"
    folder = "MNLI"
    labels = ("0", "1", "2")
    label_names = ("entailment", "neutral", "contradiction")
    fields = {
        "premise": ("premise", "sentence1"),
        "hypothesis": ("hypothesis", "sentence2"),
    }
    label_aliases = ("label", "gold_label")
    # The paper's code writes "hypothesis" without a colon here; kept as is.
    template = (("premise:", "premise"), ("hypothesis", "hypothesis"))
    split_files = {
        "train": "train.tsv",
        "validation": "dev_matched.tsv",
        "test": "test_matched.tsv",
        "validation_matched": "dev_matched.tsv",
        "validation_mismatched": "dev_mismatched.tsv",
        "test_matched": "test_matched.tsv",
        "test_mismatched": "test_mismatched.tsv",
    }
    hf_splits = {"validation": "validation_matched", "test": "test_matched"}
    tfds_splits = hf_splits
    paper_split = None  # the paper: validation = mismatched, test = matched


class QNLI(GlueTask):
    name = prefix = "qnli"
    folder = "QNLI"
    label_names = ("entailment", "not_entailment")
    fields = {"question": ("question",), "sentence": ("sentence",)}
    template = (("question:", "question"), ("sentence:", "sentence"))
    paper_split = "large"


class RTE(GlueTask):
    name = prefix = "rte"
    folder = "RTE"
    label_names = ("entailment", "not_entailment")
    fields = {"sentence1": ("sentence1",), "sentence2": ("sentence2",)}
    template = (("sentence1:", "sentence1"), ("sentence2:", "sentence2"))
    paper_split = "small"


class WNLI(GlueTask):
    name = prefix = "wnli"
    folder = "WNLI"
    label_names = ("not_entailment", "entailment")
    fields = {"sentence1": ("sentence1",), "sentence2": ("sentence2",)}
    template = (("sentence1:", "sentence1"), ("sentence2:", "sentence2"))
    paper_split = "small"


GLUE_TASKS = (CoLA, SST2, MRPC, QQP, STSB, MNLI, QNLI, RTE, WNLI)

__all__ = ["GLUE_TASKS", "STSB_GRID", "round_stsb"]
