"""Metrics of the GLUE and SuperGLUE tasks, computed from generated strings.

Pure Python/numpy re-implementations of what the Compacter paper's code
(``seq2seq/metrics/metrics.py`` and ``seq2seq/metrics/qa_utils.py`` of
github.com/rabeehk/compacter, itself after the T5 code) computes with scipy and
scikit-learn. Every function returns a dict of values in percent (x100), as the
paper reports them.

How predictions the model should not have produced are handled (as there):

* accuracy, MCC, per-class F1: compared as strings; a prediction that is no
  label is simply wrong (for MCC it is its own class, like scikit-learn).
* binary F1 (MRPC, QQP, MultiRC): a prediction other than "0"/"1" is replaced
  by the opposite of its target, i.e. counted wrong ("f1_score_with_invalid").
* Pearson/Spearman (STS-B): strings that do not parse as a float become -1.0
  ("string_to_float"); a correlation that is undefined (constant input) is 0.
"""

from __future__ import annotations

import collections
import math
import re
import string

import numpy as np


def _check(predictions, targets):
    predictions = list(predictions)
    targets = list(targets)
    if len(predictions) != len(targets):
        raise ValueError(
            f"{len(predictions)} predictions but {len(targets)} targets: "
            "score() needs one prediction per target, in the same order."
        )
    if not targets:
        raise ValueError("score() got no predictions/targets (an empty split).")
    return predictions, targets


def string_to_float(value, default=-1.0):
    """float(value), or `default` when it does not parse (the paper's rule)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def accuracy(predictions, targets):
    """Percentage of predictions equal to their target string."""
    predictions, targets = _check(predictions, targets)
    hits = sum(p == t for p, t in zip(predictions, targets))
    return {"accuracy": 100.0 * hits / len(targets)}


def _binary_f1(pred_bits, true_bits):
    tp = sum(1 for p, t in zip(pred_bits, true_bits) if p and t)
    fp = sum(1 for p, t in zip(pred_bits, true_bits) if p and not t)
    fn = sum(1 for p, t in zip(pred_bits, true_bits) if not p and t)
    denominator = 2 * tp + fp + fn
    # scikit-learn's zero_division default: 0 when nothing is positive.
    return 0.0 if denominator == 0 else 2.0 * tp / denominator


def f1_with_invalid(predictions, targets, positive="1", negative="0"):
    """Binary F1 of the positive class; invalid predictions count as wrong.

    As the paper's ``f1_score_with_invalid``: a prediction that is neither
    `positive` nor `negative` is replaced by the opposite of its target.
    """
    predictions, targets = _check(predictions, targets)
    fixed = []
    for p, t in zip(predictions, targets):
        if p not in (positive, negative):
            p = negative if t == positive else positive
        fixed.append(p)
    return {
        "f1": 100.0
        * _binary_f1([p == positive for p in fixed], [t == positive for t in targets])
    }


def matthews_corrcoef(predictions, targets):
    """Matthews correlation, the multi-class form scikit-learn uses.

    Every distinct string is a class (an invalid prediction is a class of its
    own). For two classes this is (TP*TN - FP*FN) / sqrt(...). 0 when undefined.
    """
    predictions, targets = _check(predictions, targets)
    classes = sorted(set(targets) | set(predictions))
    index = {c: i for i, c in enumerate(classes)}
    confusion = np.zeros((len(classes), len(classes)), dtype=np.float64)
    for p, t in zip(predictions, targets):
        confusion[index[t], index[p]] += 1
    t_sum = confusion.sum(axis=1)
    p_sum = confusion.sum(axis=0)
    n_correct = np.trace(confusion)
    n = confusion.sum()
    cov_ytyp = n_correct * n - np.dot(t_sum, p_sum)
    cov_ypyp = n * n - np.dot(p_sum, p_sum)
    cov_ytyt = n * n - np.dot(t_sum, t_sum)
    if cov_ypyp * cov_ytyt == 0:
        return {"matthews_correlation": 0.0}
    mcc = cov_ytyp / math.sqrt(cov_ytyt * cov_ypyp)
    return {"matthews_correlation": 100.0 * float(mcc)}


def _pearson(x, y):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(x) < 2:
        return 0.0
    dx = x - x.mean()
    dy = y - y.mean()
    denominator = math.sqrt(float(np.dot(dx, dx)) * float(np.dot(dy, dy)))
    if denominator == 0.0:
        return 0.0  # undefined (a constant input): the paper maps NaN to 0
    r = float(np.dot(dx, dy)) / denominator
    return max(-1.0, min(1.0, r))


def average_ranks(values):
    """1-based ranks; tied values share the average of their ranks."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[order[j + 1]] == values[order[i]]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def pearson(predictions, targets):
    """Pearson correlation of the parsed floats (unparsable -> -1.0)."""
    predictions, targets = _check(predictions, targets)
    p = [string_to_float(v) for v in predictions]
    t = [string_to_float(v) for v in targets]
    return {"pearson": 100.0 * _pearson(t, p)}


def spearman(predictions, targets):
    """Spearman correlation (Pearson of average ranks, so ties are handled)."""
    predictions, targets = _check(predictions, targets)
    p = [string_to_float(v) for v in predictions]
    t = [string_to_float(v) for v in targets]
    return {"spearmanr": 100.0 * _pearson(average_ranks(t), average_ranks(p))}


def macro_f1(predictions, targets, labels):
    """Unweighted mean over `labels` of the per-class F1 (CB's "f1_multiclass").

    A prediction outside `labels` is a false negative of its target's class and
    no class's false positive (scikit-learn with ``labels=``).
    """
    predictions, targets = _check(predictions, targets)
    scores = [
        _binary_f1([p == c for p in predictions], [t == c for t in targets])
        for c in labels
    ]
    return {"f1_multiclass": 100.0 * float(np.mean(scores))}


def multirc_scores(predictions, targets, groups):
    """MultiRC: F1 over all answers (invalid -> wrong) and the mean over
    questions (`groups`, one id per answer) of the exact match of all of a
    question's answers."""
    predictions, targets = _check(predictions, targets)
    if groups is None or len(groups) != len(targets):
        raise ValueError(
            "MultiRC exact match needs the question id of every answer: pass "
            "references= (from tasks.text_pairs) with one group per target."
        )
    f1 = f1_with_invalid(predictions, targets)["f1"]
    grouped = collections.OrderedDict()
    for p, t, g in zip(predictions, targets, groups):
        grouped.setdefault(_hashable(g), []).append(p == t)
    em = float(np.mean([100.0 * float(all(v)) for v in grouped.values()]))
    return {"f1": f1, "em": em}


def _hashable(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_squad(text):
    """SQuAD v1.1 answer normalization: lower case, drop punctuation and
    articles, collapse white space."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _token_f1(target, prediction):
    prediction_tokens = prediction.split()
    target_tokens = target.split()
    common = collections.Counter(prediction_tokens) & collections.Counter(target_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(target_tokens)
    return 2 * precision * recall / (precision + recall)


def squad(predictions, answers):
    """ReCoRD: SQuAD exact match and token F1, each the max over the example's
    answers, averaged over examples (`answers`: one list of strings each)."""
    predictions, answers = _check(predictions, answers)
    em_total = 0.0
    f1_total = 0.0
    for prediction, gold in zip(predictions, answers):
        if isinstance(gold, str):
            gold = [gold]
        gold = [normalize_squad(g) for g in gold] or [""]
        prediction = normalize_squad(prediction)
        em_total += max(float(g == prediction) for g in gold)
        f1_total += max(_token_f1(g, prediction) for g in gold)
    n = len(predictions)
    return {"em": 100.0 * em_total / n, "f1": 100.0 * f1_total / n}


#: metric name -> function(predictions, targets) for the simple metrics.
SIMPLE_METRICS = {
    "accuracy": accuracy,
    "f1": f1_with_invalid,
    "matthews_correlation": matthews_corrcoef,
    "pearson": pearson,
    "spearmanr": spearman,
}
