"""The SuperGLUE tasks of the Compacter paper, as its code converts them.

Templates, targets and metrics follow ``seq2seq/data/tasks.py``,
``seq2seq/data/postprocessors.py`` and ``seq2seq/metrics/metrics.py`` of
github.com/rabeehk/compacter (whose ``add_prefix`` puts the task name, e.g.
``superglue-boolq``, first). Files are the official SuperGLUE JSONL files
(``BoolQ/train.jsonl``, ``val.jsonl``, ``test.jsonl``); MultiRC and ReCoRD are
flattened as Hugging Face ``super_glue`` does (one example per answer / per
query).
"""

from __future__ import annotations

import re

from keras_compacter.tasks import metrics as metrics_lib
from keras_compacter.tasks.base import (
    Task,
    _strings,
    at,
    check_not_empty,
    warn_no_references,
)
from keras_compacter.tasks.files import DataError

SOURCE = "rabeehk/compacter seq2seq/data/tasks.py"

SUPERGLUE_FILES = {
    "train": "train.jsonl",
    "validation": "val.jsonl",
    "test": "test.jsonl",
}


class SuperGlueTask(Task):
    benchmark = "super_glue"
    labels = ("0", "1")
    label_names = ("False", "True")
    split_files = SUPERGLUE_FILES
    paper_split = "small"
    source_ref = SOURCE
    config = ""

    @property
    def hf_paths(self):
        return (("super_glue", self.config), ("aps/super_glue", self.config))

    @property
    def tfds_name(self):
        return f"super_glue/{self.config}"


class BoolQ(SuperGlueTask):
    name = config = "boolq"
    prefix = "superglue-boolq"
    folder = "BoolQ"
    fields = {"question": ("question",), "passage": ("passage",)}
    template = (("question:", "question"), ("passage:", "passage"))


class CB(SuperGlueTask):
    name = config = "cb"
    prefix = "superglue-cb"
    folder = "CB"
    labels = ("0", "1", "2")
    label_names = ("entailment", "contradiction", "neutral")
    metric_names = ("f1_multiclass", "accuracy")
    fields = {"premise": ("premise",), "hypothesis": ("hypothesis",)}
    template = (("premise:", "premise"), ("hypothesis:", "hypothesis"))

    def score(self, predictions, targets, references=None):
        predictions, targets = _strings(predictions, targets)
        out = metrics_lib.macro_f1(predictions, targets, self.labels)
        out.update(metrics_lib.accuracy(predictions, targets))
        return {name: float(out[name]) for name in self.metric_names}


class COPA(SuperGlueTask):
    name = config = "copa"
    prefix = "superglue-copa"
    folder = "COPA"
    label_names = ("choice1", "choice2")
    fields = {
        "premise": ("premise",),
        "choice1": ("choice1",),
        "choice2": ("choice2",),
    }
    # As the paper's code: the "question" field (cause/effect) is not used.
    template = (
        ("premise:", "premise"),
        ("choice1:", "choice1"),
        ("choice2:", "choice2"),
    )


class WiC(SuperGlueTask):
    name = config = "wic"
    prefix = "superglue-wic"
    folder = "WiC"
    fields = {
        "sentence1": ("sentence1",),
        "sentence2": ("sentence2",),
        "word": ("word",),
    }
    template = (
        ("sentence1:", "sentence1"),
        ("sentence2:", "sentence2"),
        ("word:", "word"),
    )


def _nested(path, where, obj, key, kind):
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, kind):
        raise DataError(
            f"{at(path, where)}: expected a {key!r} {kind.__name__} in the "
            "official SuperGLUE format (or the flat Hugging Face columns)."
        )
    return value


def remove_markup(text):
    """MultiRC: drop the HTML markup (as the paper's code)."""
    text = re.sub("<br>", " ", text)
    return re.sub("<(/)?b>", "", text)


class MultiRC(SuperGlueTask):
    name = config = "multirc"
    prefix = "superglue-multirc"
    folder = "MultiRC"
    metric_names = ("f1", "em")
    fields = {
        "paragraph": ("paragraph",),
        "question": ("question",),
        "answer": ("answer",),
    }

    def normalize_rows(self, columns, rows, path, split):
        if "passage" in columns and "paragraph" not in columns:
            columns, rows = self._flatten(rows, path)
        return super().normalize_rows(columns, rows, path, split)

    def _flatten(self, rows, path):
        """Official MultiRC (a passage with questions with answers) -> one
        Hugging Face row per answer."""
        flat = []
        for where, row in rows:
            passage = _nested(path, where, row, "passage", dict)
            text = _nested(path, where, passage, "text", str)
            for question in _nested(path, where, passage, "questions", list):
                q_text = _nested(path, where, question, "question", str)
                for answer in _nested(path, where, question, "answers", list):
                    a_text = _nested(path, where, answer, "text", str)
                    label = answer.get("label")
                    flat.append(
                        (
                            where,
                            {
                                "paragraph": text,
                                "question": q_text,
                                "answer": a_text,
                                "label": None if label is None else bool(label),
                                "idx": {
                                    "paragraph": row.get("idx"),
                                    "question": question.get("idx"),
                                    "answer": answer.get("idx"),
                                },
                            },
                        )
                    )
        return ["paragraph", "question", "answer", "label", "idx"], flat

    def source(self, example, add_prefix=False):
        parts = [self.prefix] if add_prefix else []
        for marker, name in (
            ("question:", "question"),
            ("answer:", "answer"),
            ("paragraph:", "paragraph"),
        ):
            parts += [marker, remove_markup(self.field(example, name))]
        return " ".join(parts)

    def pairs(self, example, add_prefix=False):
        idx = example.get("idx")
        group = None
        if isinstance(idx, dict):
            group = (idx.get("paragraph"), idx.get("question"))
        return [(self.source(example, add_prefix), self.target(example), group)]

    def score(self, predictions, targets, references=None):
        if references is None:
            references = getattr(targets, "references", None)
        predictions, targets = _strings(predictions, targets)
        if references is None or any(r is None for r in references):
            warn_no_references(self.name)
            references = list(range(len(targets)))
        out = metrics_lib.multirc_scores(predictions, targets, list(references))
        return {name: float(out[name]) for name in self.metric_names}


def record_passage(passage):
    """ReCoRD: turn the "@highlight" lines into sentences (as the paper)."""
    passage = re.sub(r"(\.|\?|\!|\"|\')\n@highlight\n", r"\1 ", passage)
    return re.sub(r"\n@highlight\n", ". ", passage)


class ReCoRD(SuperGlueTask):
    name = config = "record"
    prefix = "superglue-record"
    folder = "ReCoRD"
    labels = None  # free text: an entity of the passage
    label_names = None
    metric_names = ("f1", "em")
    paper_split = "large"
    fields = {"passage": ("passage",), "query": ("query",)}

    def normalize_rows(self, columns, rows, path, split):
        check_not_empty(rows, path, self.name, split)
        nested = "qas" in columns
        examples = []
        for where, row in rows:
            if nested:
                passage = _nested(path, where, row, "passage", dict)
                text = _nested(path, where, passage, "text", str)
                spans = _nested(path, where, passage, "entities", list)
                try:
                    entities = sorted({text[e["start"] : e["end"] + 1] for e in spans})
                    qas = _nested(path, where, row, "qas", list)
                    answer_lists = [
                        sorted({a["text"] for a in qa.get("answers") or []})
                        for qa in qas
                    ]
                except (KeyError, TypeError, AttributeError) as error:
                    raise DataError(
                        f"{at(path, where)}: malformed ReCoRD entity/answer "
                        f"({type(error).__name__}: {error}): entities need "
                        "start/end, answers need text, as the official files."
                    ) from None
                for qa, answers in zip(qas, answer_lists):
                    examples.append(
                        {
                            "passage": text,
                            "query": _nested(path, where, qa, "query", str),
                            "entities": entities,
                            "answers": answers,
                            "idx": {"passage": row.get("idx"), "query": qa.get("idx")},
                        }
                    )
                continue
            example = {}
            for field in ("passage", "query"):
                example[field] = self.text_value(row.get(field), field, at(path, where))
            for field in ("entities", "answers"):
                value = row.get(field)
                if value is None and field == "answers":
                    value = []
                if not isinstance(value, list) or not all(
                    isinstance(v, str) for v in value
                ):
                    raise DataError(
                        f"{at(path, where)}: {field!r} should be a list of strings"
                        f" (found {type(value).__name__}). Use the official ReCoRD "
                        "JSONL or the Hugging Face columns passage, query, "
                        "entities, answers."
                    )
                example[field] = value
            example["idx"] = row.get("idx", len(examples))
            examples.append(example)
        if not nested and rows and "passage" not in columns:
            raise DataError(
                f"{path}: not ReCoRD data: no 'qas' (official format) or "
                f"'passage'/'query' columns. Columns present: {columns}."
            )
        return examples

    def source(self, example, add_prefix=False):
        entities = ", ".join(self.field(example, "entities"))
        text = (
            f"record query: {self.field(example, 'query')} entities: {entities} "
            f"passage: {record_passage(self.field(example, 'passage'))}"
        )
        return f"{self.prefix} {text}" if add_prefix else text

    def target(self, example):
        answers = example.get("answers") or []
        return answers[0] if answers else None

    def pairs(self, example, add_prefix=False):
        """One pair per correct answer (as the paper, for every split); each
        pair's reference is the list of all correct answers."""
        source = self.source(example, add_prefix)
        answers = list(example.get("answers") or [])
        if not answers:
            return [(source, None, [])]
        return [(source, answer, answers) for answer in answers]

    def check_target(self, target, where):
        if not isinstance(target, str) or not target.strip():
            raise DataError(f"{where}: a ReCoRD answer must be non-empty text.")

    def score(self, predictions, targets, references=None):
        if references is None:
            references = getattr(targets, "references", None)
        predictions, targets = _strings(predictions, targets)
        if references is None:
            warn_no_references(self.name)
            references = [[t] for t in targets]
        answers = [r if r else [t] for r, t in zip(references, targets)]
        out = metrics_lib.squad(predictions, answers)
        return {name: float(out[name]) for name in self.metric_names}


SUPERGLUE_TASKS = (BoolQ, CB, COPA, MultiRC, ReCoRD, WiC)

__all__ = ["SUPERGLUE_TASKS"]
