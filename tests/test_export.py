"""SavedModel export of adapted T5 models (TensorFlow and JAX backends).

Every method's exported artifact, reloaded with `tf.saved_model.load`,
computes the Keras model's logits at lengths never seen before. Export is
slow (a trace, and on JAX a `jax2tf` conversion, then an XLA compile on the
first call), so three representative methods run by default (an adapter,
one that lengthens the encoder input, one that hooks the logits) and the
rest with `-m slow`. On PyTorch the export refuses with a pointer to the CLI.
"""

import keras
import numpy as np
import pytest
from t5_cases import CASES, VOCAB, adapted_lm, batch, numpy_of, tiny_lm

import keras_compacter as kc
from keras_compacter.export import (
    INPUT_NAMES,
    ExportBackendError,
    describe_signature,
    export_saved_model,
)

BACKEND = keras.backend.backend()
CAN_EXPORT = BACKEND in ("tensorflow", "jax")
needs_export_backend = pytest.mark.skipif(
    not CAN_EXPORT, reason=f"SavedModel export needs TF or JAX, not {BACKEND}"
)
DEFAULT_METHODS = ("compacter++", "prompt-tuning", "bitfit")
METHOD_PARAMS = [
    pytest.param(m, marks=() if m in DEFAULT_METHODS else pytest.mark.slow)
    for m in kc.methods()
]


def load(path):
    import tensorflow as tf

    return tf.saved_model.load(str(path))


def signature_shapes(reloaded):
    _, specs = reloaded.signatures["serving_default"].structured_input_signature
    return {name: tuple(spec.shape) for name, spec in specs.items()}


def test_cases_cover_every_method():
    assert set(CASES) == set(kc.methods())


@needs_export_backend
@pytest.mark.parametrize("method", METHOD_PARAMS)
def test_exported_method_matches_keras_at_new_lengths(method, tmp_path):
    lm = adapted_lm(method)
    export_saved_model(lm, tmp_path / "model")
    reloaded = load(tmp_path / "model")

    assert signature_shapes(reloaded) == {name: (None, None) for name in INPUT_NAMES}
    # Lengths and batch size used nowhere before (the export traced with
    # symbolic ones); row 1 of the encoder mask is padded.
    x, _ = batch(seed=3, n=3, src=11, tgt=6)
    got = reloaded.serve(x).numpy()
    want = numpy_of(lm(x))
    assert got.shape == (3, 6, VOCAB)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    # The perturbed method matters: the base model computes something else.
    if method == "full":
        base = numpy_of(tiny_lm(CASES[method][0])(x))  # same seed, same base
    else:
        with kc.disabled(lm):
            base = numpy_of(lm(x))
    assert np.abs(want - base).max() > 1e-3


@needs_export_backend
def test_plain_model_with_fixed_lengths_and_the_serving_signature(tmp_path):
    import tensorflow as tf

    lm = tiny_lm(16)
    path = export_saved_model(
        lm, tmp_path / "plain", max_source_length=8, max_target_length=4
    )
    assert path == tmp_path / "plain"
    reloaded = load(path)
    assert signature_shapes(reloaded) == {
        "encoder_token_ids": (None, 8),
        "encoder_padding_mask": (None, 8),
        "decoder_token_ids": (None, 4),
        "decoder_padding_mask": (None, 4),
    }
    x, _ = batch(seed=4, n=2, src=8, tgt=4)
    outputs = reloaded.signatures["serving_default"](
        **{name: tf.constant(value) for name, value in x.items()}
    )
    assert list(outputs) == ["logits"]
    np.testing.assert_allclose(
        outputs["logits"].numpy(), numpy_of(lm(x)), rtol=0, atol=1e-4
    )
    short, _ = batch(seed=4, n=2, src=5, tgt=4)
    with pytest.raises((TypeError, ValueError)):
        reloaded.serve(short)


@needs_export_backend
def test_refuses_what_it_cannot_export(tmp_path):
    lm = tiny_lm(16)
    with pytest.raises(kc.UnsupportedModelError, match="T5Seq2SeqLM"):
        export_saved_model(lm.backbone, tmp_path / "backbone")
    with pytest.raises(ValueError, match="max_source_length"):
        export_saved_model(lm, tmp_path / "m", max_source_length=0)
    if BACKEND != "jax":
        with pytest.raises(ValueError, match="JAX backend only"):
            export_saved_model(lm, tmp_path / "m", jax2tf_kwargs={"enable_xla": True})
    assert not (tmp_path / "backbone").exists() and not (tmp_path / "m").exists()
    adapted = adapted_lm("bitfit")
    with kc.disabled(adapted):
        with pytest.raises(ValueError, match="disabled"):
            export_saved_model(adapted, tmp_path / "off")
    assert not (tmp_path / "off").exists()


@pytest.mark.skipif(BACKEND != "torch", reason="the PyTorch backend's refusal")
def test_torch_backend_points_to_the_cli(tmp_path):
    lm = adapted_lm("bitfit")
    with pytest.raises(ExportBackendError, match="keras-compacter export") as info:
        export_saved_model(lm, tmp_path / "model")
    assert "'torch'" in str(info.value)
    assert not (tmp_path / "model").exists()


def test_signature_description_names_every_input():
    text = describe_signature()
    for name in INPUT_NAMES:
        assert name in text
    assert "(batch, source_length)" in text and "logits" in text
    assert "(batch, 8)" in describe_signature(max_source_length=8)
