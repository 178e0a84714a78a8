"""Metrics against hand-computed values and independent formulas."""

import math
import statistics

import numpy as np
import pytest

from keras_compacter import tasks
from keras_compacter.tasks import metrics


def test_accuracy_is_string_equality_in_percent():
    out = metrics.accuracy(["1", "0", "x", "1"], ["1", "1", "0", "1"])
    assert out == {"accuracy": 50.0}


def test_binary_f1_counts_invalid_predictions_as_wrong():
    # "x" (target 1) becomes "0": tp=1, fp=1, fn=2 -> F1 = 2/(2+1+2) = 0.4
    out = metrics.f1_with_invalid(["1", "1", "0", "x", "0"], ["1", "0", "1", "1", "0"])
    assert out["f1"] == pytest.approx(40.0)
    # an invalid prediction of a negative target becomes a false positive
    out = metrics.f1_with_invalid(["1", "x"], ["1", "0"])
    assert out["f1"] == pytest.approx(100 * 2 / 3)


def test_binary_f1_without_positives_is_zero():
    assert metrics.f1_with_invalid(["0", "0"], ["0", "0"])["f1"] == 0.0


def test_mcc_binary_hand_computed():
    targets = ["1", "1", "1", "0", "0", "0", "0", "1"]
    preds = ["1", "0", "1", "0", "0", "1", "0", "1"]
    # tp=3 tn=3 fp=1 fn=1: (9 - 1) / sqrt(4*4*4*4) = 0.5
    out = metrics.matthews_corrcoef(preds, targets)
    assert out["matthews_correlation"] == pytest.approx(50.0)


def _mcc_one_hot(preds, targets):
    """Gorodkin's multi-class MCC as the correlation of one-hot vectors."""
    classes = sorted(set(preds) | set(targets))
    x = np.array([[t == c for c in classes] for t in targets], dtype=float)
    y = np.array([[p == c for c in classes] for p in preds], dtype=float)
    x -= x.mean(axis=0)
    y -= y.mean(axis=0)
    cov_xy = (x * y).sum()
    cov_xx = (x * x).sum()
    cov_yy = (y * y).sum()
    return 100 * cov_xy / math.sqrt(cov_xx * cov_yy)


def test_mcc_with_invalid_predictions_matches_one_hot_formula():
    rng = np.random.default_rng(0)
    targets = [str(v) for v in rng.integers(0, 2, 40)]
    preds = [str(v) for v in rng.integers(0, 3, 40)]  # "2" is not a label
    got = metrics.matthews_corrcoef(preds, targets)["matthews_correlation"]
    assert got == pytest.approx(_mcc_one_hot(preds, targets))


def test_mcc_of_constant_predictions_is_zero():
    assert metrics.matthews_corrcoef(["1"] * 4, ["0", "1", "0", "1"]) == {
        "matthews_correlation": 0.0
    }


def test_pearson_hand_values_and_reference():
    assert metrics.pearson(["2", "4", "6", "8"], ["1", "2", "3", "4"])[
        "pearson"
    ] == pytest.approx(100.0)
    assert metrics.pearson(["3", "2", "1"], ["1", "2", "3"])[
        "pearson"
    ] == pytest.approx(-100.0)
    t = [1.2, 3.4, 0.2, 5.0, 2.8, 2.8]
    p = [1.0, 3.0, 0.6, 4.4, 3.2, 2.0]
    expected = 100 * statistics.correlation(t, p)
    got = metrics.pearson([str(v) for v in p], [str(v) for v in t])["pearson"]
    assert got == pytest.approx(expected)


def _brute_force_ranks(values):
    """Average rank of each value: (#smaller) + (#equal + 1) / 2."""
    return [
        sum(w < v for w in values) + (sum(w == v for w in values) + 1) / 2
        for v in values
    ]


def test_spearman_with_ties_matches_brute_force_ranks():
    t = [1.0, 2.0, 2.0, 3.0, 5.0, 5.0, 5.0, 0.4]
    p = [0.8, 2.2, 1.0, 1.0, 4.0, 4.8, 3.9, 0.4]
    expected = 100 * statistics.correlation(
        _brute_force_ranks(t), _brute_force_ranks(p)
    )
    got = metrics.spearman([str(v) for v in p], [str(v) for v in t])["spearmanr"]
    assert got == pytest.approx(expected)
    assert list(metrics.average_ranks(t)) == _brute_force_ranks(t)


def test_correlations_parse_failures_as_minus_one_and_constant_as_zero():
    got = metrics.pearson(["3.0", "abc", "1.0"], ["3.0", "2.0", "1.0"])["pearson"]
    assert got == pytest.approx(100 * statistics.correlation([3, 2, 1], [3, -1, 1]))
    assert metrics.pearson(["2.0"] * 3, ["1", "2", "3"]) == {"pearson": 0.0}
    assert metrics.spearman(["2.0"] * 3, ["1", "2", "3"]) == {"spearmanr": 0.0}


def test_correlations_agree_with_scipy_when_available():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    t = np.round(rng.uniform(0, 5, 50), 1)
    p = np.round(t + rng.normal(0, 1, 50), 1)
    ps, ts = [str(v) for v in p], [str(v) for v in t]
    assert metrics.pearson(ps, ts)["pearson"] == pytest.approx(
        100 * stats.pearsonr(t, p)[0]
    )
    assert metrics.spearman(ps, ts)["spearmanr"] == pytest.approx(
        100 * stats.spearmanr(t, p)[0]
    )


def test_macro_f1_hand_computed():
    targets = ["0", "0", "1", "2", "2", "2"]
    preds = ["0", "1", "1", "2", "x", "0"]
    # class 0: tp1 fp1 fn1 -> 0.5; class 1: tp1 fp1 fn0 -> 2/3;
    # class 2: tp1 fp0 fn2 -> 0.5
    got = metrics.macro_f1(preds, targets, ("0", "1", "2"))["f1_multiclass"]
    assert got == pytest.approx(100 * (0.5 + 2 / 3 + 0.5) / 3)


def test_squad_normalization_em_and_token_f1():
    assert metrics.normalize_squad("  The  Cat's, hat!") == "cats hat"
    out = metrics.squad(["The cat!", "big red cat"], [["cat", "dog"], ["red cat"]])
    # em: 1 and 0; f1: 1 and (p=2/3, r=1 -> 0.8)
    assert out["em"] == pytest.approx(50.0)
    assert out["f1"] == pytest.approx(100 * (1 + 0.8) / 2)


def test_multirc_f1_over_answers_and_em_over_questions():
    groups = [(0, 0), (0, 0), (0, 1), (0, 1), (1, 2)]
    targets = ["1", "0", "1", "1", "0"]
    preds = ["1", "0", "1", "0", "0"]
    out = metrics.multirc_scores(preds, targets, groups)
    # F1: tp=2 fn=1 -> 0.8; EM per question: 1, 0, 1
    assert out["f1"] == pytest.approx(80.0)
    assert out["em"] == pytest.approx(100 * 2 / 3)


def test_metric_length_mismatch_and_empty_raise():
    with pytest.raises(ValueError, match="2 predictions but 1 targets"):
        metrics.accuracy(["1", "0"], ["1"])
    with pytest.raises(ValueError, match="empty"):
        metrics.accuracy([], [])


@pytest.mark.parametrize(
    "name, expected",
    [
        ("cola", ("matthews_correlation",)),
        ("sst2", ("accuracy",)),
        ("mrpc", ("f1", "accuracy")),
        ("qqp", ("f1", "accuracy")),
        ("stsb", ("pearson", "spearmanr")),
        ("mnli", ("accuracy",)),
        ("qnli", ("accuracy",)),
        ("rte", ("accuracy",)),
        ("wnli", ("accuracy",)),
        ("boolq", ("accuracy",)),
        ("cb", ("f1_multiclass", "accuracy")),
        ("copa", ("accuracy",)),
        ("multirc", ("f1", "em")),
        ("record", ("f1", "em")),
        ("wic", ("accuracy",)),
    ],
)
def test_task_metric_names(name, expected):
    task = tasks.get_task(name)
    assert task.metric_names == expected
    if task.labels is not None:
        targets = list(task.labels)
        out = task.score(targets, targets, references=list(range(len(targets))))
        assert set(out) == set(expected)


def test_task_score_and_main_score_is_mean_of_task_metrics():
    mrpc = tasks.get_task("mrpc")
    out = mrpc.score([" 1", "0 ", "1", "1"], ["1", "0", "0", "1"])
    assert out == {"f1": pytest.approx(80.0), "accuracy": 75.0}
    assert mrpc.main_score(out) == pytest.approx(77.5)
    stsb = tasks.get_task("stsb")
    out = stsb.score(["1.0", "2.0", "3.5"], ["1.0", "2.0", "3.0"])
    assert out["spearmanr"] == pytest.approx(100.0)
    assert stsb.main_score(out) == pytest.approx((out["pearson"] + 100) / 2)
    cola = tasks.get_task("cola")
    assert cola.main_score({"matthews_correlation": 40.0, "loss": 3.0}) == 40.0
    with pytest.raises(KeyError):
        cola.main_score({"accuracy": 1.0})


def test_cb_score():
    cb = tasks.get_task("cb")
    out = cb.score(["0", "1", "1", "2", "x", "0"], ["0", "0", "1", "2", "2", "2"])
    assert out["accuracy"] == pytest.approx(50.0)
    assert out["f1_multiclass"] == pytest.approx(100 * (0.5 + 2 / 3 + 0.5) / 3)


def test_score_rejects_unlabeled_targets():
    with pytest.raises(ValueError, match="unlabeled"):
        tasks.get_task("sst2").score(["1"], [None])
