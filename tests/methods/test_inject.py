"""Every method injected into a tiny KerasHub T5: training, freezing,
generation and parameter counts, checked against PAPER.md's formulas."""

import functools
import math

import keras
import keras_hub
import numpy as np
import pytest
from t5_cases import (
    CASES,
    FF,
    HEADS,
    INNER,
    LAYERS,
    VOCAB,
    batch,
    method_params,
    numpy_of,
    tiny_lm,
)

import keras_compacter as kc
from keras_compacter.api import adaptations

BUCKETS = 32  # T5's relative attention buckets

# XLA-compiling a tiny T5 costs far more than running it: compile with XLA
# only where there is no other graph mode (JAX); TF still runs tf.function.
JIT = keras.config.backend() == "jax"
IDENTITY_AT_INIT = ("bitfit", "intrinsic-said", "lora", "full")


def greedy_generate(lm, x, steps=4):
    lm.compile(sampler="greedy", jit_compile=JIT)
    n = x["encoder_token_ids"].shape[0]
    prompt = np.zeros((n, steps + 1), "int32")
    mask = np.zeros((n, steps + 1), "int32")
    mask[:, 0] = 1
    out = lm.generate(
        {
            "encoder_token_ids": x["encoder_token_ids"],
            "encoder_padding_mask": x["encoder_padding_mask"],
            "decoder_token_ids": prompt,
            "decoder_padding_mask": mask,
        },
        stop_token_ids=None,
    )
    return numpy_of(out["decoder_token_ids"])


def teacher_forced_argmax(lm, x, tokens):
    inputs = dict(x)
    inputs["decoder_token_ids"] = tokens[:, :-1]
    inputs["decoder_padding_mask"] = np.ones_like(tokens[:, :-1])
    return np.argmax(numpy_of(lm(inputs)), axis=-1)


@functools.cache
def trained_run(method):
    """Inject, fit a few steps, and record everything the tests look at."""
    hidden, settings = CASES[method]
    lm = tiny_lm(hidden)
    x, y = batch()
    base_logits = numpy_of(lm(x))
    kc.inject(lm, method, **settings)
    state = adaptations(lm)
    result = {
        "lm": lm,
        "x": x,
        "base_logits": base_logits,
        "injected_logits": numpy_of(lm(x)),
        "summary": kc.summary(lm, print_fn=None),
        "base_before": {k: numpy_of(v).copy() for k, v in state.base_variables},
        "trained_before": {t.key: numpy_of(t.variable).copy() for t in state.trained},
    }
    lm.compile(
        jit_compile=JIT,
        optimizer=keras.optimizers.Adam(3e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = lm.fit(x, y, epochs=8, batch_size=4, verbose=0)
    result["loss"] = history.history["loss"]
    return result


METHODS = list(CASES)


def test_methods_lists_all_twelve():
    assert list(kc.methods()) == [
        "compacter",
        "compacter++",
        "phm-adapter",
        "adapter",
        "pfeiffer-adapter",
        "adapterdrop",
        "adapter-lowrank",
        "prompt-tuning",
        "intrinsic-said",
        "bitfit",
        "full",
        "lora",
    ]
    assert all(isinstance(d, str) and d for d in kc.methods().values())


@pytest.mark.parametrize("method", method_params())
def test_fit_lowers_loss(method):
    loss = trained_run(method)["loss"]
    assert loss[-1] < loss[0] - 1e-3, loss


@pytest.mark.parametrize("method", method_params())
def test_frozen_weights_bit_for_bit_and_trained_weights_move(method):
    run = trained_run(method)
    state = adaptations(run["lm"])
    trained_ids = {id(t.variable) for t in state.trained}
    frozen = [(k, v) for k, v in state.base_variables if id(v) not in trained_ids]
    if method != "full":
        assert frozen
    for key, variable in frozen:
        np.testing.assert_array_equal(numpy_of(variable), run["base_before"][key])
        assert not variable.trainable, key
    for record in state.trained:
        before = run["trained_before"][record.key]
        assert not np.array_equal(numpy_of(record.variable), before), record.key
    # What trains is exactly what the method says it trains.
    assert {id(v) for v in run["lm"].trainable_weights} == trained_ids


@pytest.mark.parametrize("method", method_params(IDENTITY_AT_INIT))
def test_identity_right_after_inject(method):
    run = trained_run(method)
    np.testing.assert_allclose(
        run["injected_logits"], run["base_logits"], rtol=0, atol=1e-5
    )


@pytest.mark.parametrize("method", method_params())
def test_generate_uses_the_method(method):
    run = trained_run(method)
    lm, x = run["lm"], run["x"]
    # After training the method's weights are non-trivial: the model differs
    # from the base model ...
    assert np.abs(numpy_of(lm(x)) - run["base_logits"]).max() > 1e-4
    # ... and greedy cached decoding agrees with the adapted full forward
    # pass, so generate() computes with the method too.
    tokens = greedy_generate(lm, x)
    np.testing.assert_array_equal(tokens[:, 1:], teacher_forced_argmax(lm, x, tokens))


def base_count(d, layers=LAYERS):
    attention = 3 * d * INNER + INNER * d
    feed_forward = 2 * d * FF + FF * d  # gated: input and gate projectors
    encoder = layers * (attention + feed_forward + 2 * d) + BUCKETS * HEADS + d
    decoder = layers * (2 * attention + feed_forward + 3 * d) + BUCKETS * HEADS + d
    return VOCAB * d + encoder + decoder


def layer_norm_count(d, layers=LAYERS):
    return layers * 2 * d + d + layers * 3 * d + d


def adapter_count(d, m, projection, n=4, r=1, shared=False):
    if projection == "dense":
        return d * m + m + m * d + d
    if projection == "low_rank":
        return (d * r + r * m + m) + (m * r + r * d + d)
    rule = 0 if shared else n**3
    if r is None:
        return (rule + d * m // n + m) + (rule + m * d // n + d)
    return (rule + n * (d // n * r + r * m // n) + m) + (
        rule + n * (m // n * r + r * d // n) + d
    )


def expected_trainable(method):
    d, settings = CASES[method]
    m = d // 32
    blocks = 2 * LAYERS
    norms = layer_norm_count(d)
    if method == "adapter":
        return 2 * blocks * adapter_count(d, m, "dense") + norms
    if method == "pfeiffer-adapter":
        return blocks * adapter_count(d, m, "dense") + norms
    if method == "adapterdrop":
        kept = 2 * (LAYERS - settings["dropped_layers"])
        return 2 * kept * adapter_count(d, m, "dense") + norms
    if method == "adapter-lowrank":
        return 2 * blocks * adapter_count(d, m, "low_rank") + norms
    if method == "phm-adapter":
        return 2 * blocks * adapter_count(d, m, "phm", n=12, r=None) + norms
    if method == "compacter":
        per = adapter_count(d, m, "phm", n=4, r=1, shared=True)
        return 4**3 + 2 * blocks * per + norms
    if method == "compacter++":
        per = adapter_count(d, m, "phm", n=4, r=1, shared=True)
        return 4**3 + blocks * per + norms
    if method == "prompt-tuning":
        return settings["length"] * d
    if method == "intrinsic-said":
        return 20000
    if method == "bitfit":
        attention = 3 * INNER + d
        return (
            3 * LAYERS * attention + 2 * LAYERS * (2 * FF + d) + 5 * LAYERS * d + VOCAB
        )
    if method == "full":
        return base_count(d)
    if method == "lora":
        return 3 * LAYERS * 2 * 8 * (d + INNER)
    raise AssertionError(method)


@pytest.mark.parametrize("method", method_params())
def test_summary_counts_match_the_paper_formulas(method):
    summary = trained_run(method)["summary"]
    d = CASES[method][0]
    assert summary["base"] == base_count(d)
    assert summary["trainable"] == expected_trainable(method)
    # New parameters: all that trains, less the base weights that train.
    if method == "full":
        added = 0
    elif "adapter" in method or "compacter" in method:
        added = summary["trainable"] - layer_norm_count(d)
    else:
        added = summary["trainable"]
    assert summary["total"] == base_count(d) + added
    assert summary["percent"] == pytest.approx(
        100 * summary["trainable"] / base_count(d)
    )
    assert sum(summary["groups"].values()) == summary["trainable"]


def test_summary_prints_groups(capsys):
    lm = tiny_lm(128)
    kc.inject(lm, "compacter")
    kc.summary(lm)
    out = capsys.readouterr().out
    assert "adapters" in out and "layer norms" in out and "compacter" in out


def test_adapterdrop_default_drops_five_of_six():
    lm = tiny_lm(32, num_layers=6)
    kc.inject(lm, "adapterdrop")
    keys = {t.key.split("/adapter/")[0] for t in kc.trained_variables(lm)}
    keys = {k for k in keys if "layer_norm" not in k}
    assert keys == {
        "encoder/5/self_attention",
        "encoder/5/feed_forward",
        "decoder/5/self_attention",
        "decoder/5/feed_forward",
    }


def test_compacter_shares_one_rule_across_the_model():
    lm = tiny_lm(128)
    kc.inject(lm, "compacter")
    rules = [w for w in lm.weights if w.name == "phm_rule"]
    assert len({id(w) for w in rules}) == 1
    assert tuple(rules[0].shape) == (4, 4, 4)


def test_settings_override_defaults():
    lm = tiny_lm(64)
    kc.inject(lm, "compacter", reduction_factor=8, phm_dim=2)
    method = kc.injected_method(lm)
    assert (method.reduction_factor, method.phm_dim, method.phm_rank) == (8, 2, 1)
    config = kc.method_configs.CompacterConfig(bottleneck_dim=16)
    lm = tiny_lm(64)
    kc.inject(lm, config)
    assert kc.injected_method(lm).bottleneck_dim == 16


# --- Clear errors -----------------------------------------------------------


def test_unknown_method_lists_valid_names():
    with pytest.raises(kc.UnknownMethodError, match="compacter\\+\\+.*lora"):
        kc.inject(tiny_lm(16), "compactor")


def test_unknown_setting_lists_valid_settings():
    with pytest.raises(TypeError, match="reduction_factor"):
        kc.inject(tiny_lm(128), "compacter", reduction=4)


def test_injecting_twice_is_refused_and_changes_nothing():
    lm = tiny_lm(128)
    kc.inject(lm, "compacter")
    count = len(lm.weights)
    with pytest.raises(kc.AlreadyInjectedError, match="already has 'compacter'"):
        kc.inject(lm, "bitfit")
    assert len(lm.weights) == count


def test_not_t5_is_refused():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(kc.UnsupportedModelError, match="T5Seq2SeqLM"):
        kc.inject(model, "compacter")


def test_phm_dim_not_dividing_is_refused_before_any_change():
    lm = tiny_lm(128)
    count = len(lm.weights)
    with pytest.raises(ValueError, match=r"phm_dim=3 .*hidden size \(128\).*\(4\)"):
        kc.inject(lm, "compacter", phm_dim=3)
    assert len(lm.weights) == count and adaptations(lm) is None
    kc.inject(lm, "compacter")  # still a clean base model


def test_reduction_factor_not_dividing_is_refused():
    with pytest.raises(ValueError, match="reduction_factor=5"):
        kc.inject(tiny_lm(32), "adapter", reduction_factor=5)


def test_dropping_more_layers_than_exist_is_refused():
    with pytest.raises(ValueError, match="dropped_layers=5.*2 layers"):
        kc.inject(tiny_lm(32), "adapterdrop")


@pytest.mark.parametrize("method", ["bitfit", "prompt-tuning", "intrinsic-said"])
def test_task_methods_on_a_bare_backbone_say_they_need_the_task(method):
    backbone = tiny_lm(16).backbone
    with pytest.raises(kc.NeedsTaskError, match="T5Seq2SeqLM"):
        kc.inject(backbone, method)


def test_adapters_on_a_bare_backbone_work_in_a_task_built_later():
    lm = tiny_lm(128)
    x, _ = batch()
    kc.inject(lm.backbone, "compacter++")
    for t in kc.trained_variables(lm.backbone):
        t.variable.assign(np.full(t.variable.shape, 0.1, "float32"))
    task = keras_hub.models.T5Seq2SeqLM(backbone=lm.backbone)
    tokens = greedy_generate(task, x)
    np.testing.assert_array_equal(tokens[:, 1:], teacher_forced_argmax(task, x, tokens))
    assert math.isfinite(float(np.abs(numpy_of(task(x))).max()))
