"""A model using every layer survives `.keras` saving, shared rule included."""

import keras
import numpy as np

from keras_compacter.layers import (
    BottleneckAdapter,
    LowRankDense,
    PHMDense,
    PromptEmbedding,
    SharedPHMRule,
)

D = 16
ZEROS_PHM = {"phm_rule_initializer": "zeros", "kernel_initializer": "zeros"}


def build_model():
    tokens = keras.Input((None, D), name="embeddings")
    padding_mask = keras.Input((None,), dtype="int32", name="padding_mask")
    h, mask = PromptEmbedding(3, initializer="zeros", name="prompt")(
        tokens, padding_mask
    )
    h = PHMDense(D, phm_dim=4, name="phm_full", **ZEROS_PHM)(h)
    h = PHMDense(D, phm_dim=4, phm_rank=2, name="phm_low_rank", **ZEROS_PHM)(h)
    rule = SharedPHMRule(4, initializer="zeros", name="rule")
    h = PHMDense(8, phm_dim=4, phm_rank=1, shared_rule=rule, name="shared_a")(h)
    h = PHMDense(D, phm_dim=4, shared_rule=rule, name="shared_b")(h)
    h = LowRankDense(D, rank=2, kernel_initializer="zeros", name="low_rank")(h)
    h = BottleneckAdapter(
        bottleneck_dim=8,
        projection="phm",
        phm_dim=4,
        phm_rank=2,
        shared_rule=rule,
        name="adapter",
    )(h)
    out = h * keras.ops.expand_dims(keras.ops.cast(mask, h.dtype), -1)
    return keras.Model([tokens, padding_mask], [out, mask])


def shared_rules(model):
    return [
        model.get_layer("shared_a").shared_rule,
        model.get_layer("shared_b").shared_rule,
        model.get_layer("adapter").shared_rule,
        model.get_layer("adapter").down.shared_rule,
        model.get_layer("adapter").up.shared_rule,
    ]


def test_model_with_every_layer_saves_and_loads(tmp_path, rng, run):
    model = build_model()
    rule = model.get_layer("shared_a").shared_rule
    assert all(r is rule for r in shared_rules(model))
    assert sum(w is rule.rule for w in model.weights) == 1
    model.set_weights([0.5 * rng.normal(size=w.shape) for w in model.get_weights()])

    x = rng.normal(size=(2, 5, D)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype="int32")
    out, new_mask = run(lambda x, m: model([x, m]), x, mask)
    assert tuple(out.shape) == (2, 8, D) and tuple(new_mask.shape) == (2, 8)
    assert np.abs(keras.ops.convert_to_numpy(out)).max() > 1e-2

    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)

    # The rule is still one object, one variable, used by all four PHM layers.
    loaded_rule = loaded.get_layer("shared_a").shared_rule
    assert isinstance(loaded_rule, SharedPHMRule)
    assert all(r is loaded_rule for r in shared_rules(loaded))
    assert loaded.get_layer("shared_b").phm_rule is loaded_rule.rule
    assert loaded.get_layer("adapter").up.phm_rule is loaded_rule.rule
    assert sum(w is loaded_rule.rule for w in loaded.weights) == 1
    assert len(loaded.weights) == len(model.weights)
    assert loaded.count_params() == model.count_params()
    for w, w_loaded in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(w_loaded, w)

    out_loaded, mask_loaded = run(lambda x, m: loaded([x, m]), x, mask)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(out_loaded),
        keras.ops.convert_to_numpy(out),
        rtol=1e-6,
        atol=1e-6,
    )
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(mask_loaded), keras.ops.convert_to_numpy(new_mask)
    )
