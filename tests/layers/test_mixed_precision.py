"""Every layer under the `mixed_bfloat16` policy: bfloat16 compute, float32
variables."""

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


def np_zeros(shape, dtype=None):
    return np.zeros(shape, dtype=dtype or "float32")


ZEROS_PHM = {"phm_rule_initializer": np_zeros, "kernel_initializer": np_zeros}


def dtype_of(x):
    return keras.backend.standardize_dtype(x.dtype)


def _layers():
    rule = SharedPHMRule(4)
    return {
        "phm_full": PHMDense(D, phm_dim=4, **ZEROS_PHM),
        "phm_low_rank": PHMDense(D, phm_dim=4, phm_rank=2, **ZEROS_PHM),
        "phm_shared": PHMDense(8, phm_dim=4, phm_rank=1, shared_rule=rule, **ZEROS_PHM),
        "low_rank": LowRankDense(D, rank=2, kernel_initializer="zeros"),
        "adapter_dense": BottleneckAdapter(reduction_factor=2),
        "adapter_low_rank": BottleneckAdapter(
            bottleneck_dim=8, projection="low_rank", low_rank=2
        ),
        "adapter_compacter": BottleneckAdapter(
            bottleneck_dim=8, projection="phm", phm_dim=4, phm_rank=2, shared_rule=rule
        ),
    }, rule


def test_every_layer_runs_in_bfloat16(mixed_bfloat16, rng, run):
    layers, rule = _layers()
    assert rule.dtype_policy.name == "mixed_bfloat16"
    x = rng.normal(size=(2, 3, D)).astype("float32")
    for layer in layers.values():
        layer.build(x.shape)
    prompt = PromptEmbedding(3, initializer=np_zeros)
    prompt.build(x.shape)

    masks = [np.ones((2, 3), dtype=dtype) for dtype in ("bool", "int32")]

    def forward(x, *masks):
        outputs = {name: layer(x) for name, layer in layers.items()}
        outputs["prompt"] = prompt(x)
        return outputs, [prompt(x, m) for m in masks]

    outputs, prompted = run(forward, x, *masks)
    for name, y in outputs.items():
        assert dtype_of(y) == "bfloat16", name
        assert np.all(
            np.isfinite(keras.ops.convert_to_numpy(keras.ops.cast(y, "float32")))
        )
    for mask, (y, new_mask) in zip(masks, prompted):
        assert dtype_of(y) == "bfloat16"
        assert dtype_of(new_mask) == str(mask.dtype)
    for layer in [*layers.values(), prompt, rule]:
        assert layer.compute_dtype == "bfloat16"
        assert layer.weights
        for w in layer.weights:
            assert w.dtype == "float32", (layer.name, w.path)


def test_phm_dense_bfloat16_close_to_float32(mixed_bfloat16, rng, run):
    x = rng.normal(size=(2, 3, D)).astype("float32")
    pairs = []
    for rank in (None, 2):
        layer = PHMDense(D, phm_dim=4, phm_rank=rank, **ZEROS_PHM)
        reference = PHMDense(D, phm_dim=4, phm_rank=rank, dtype="float32", **ZEROS_PHM)
        layer.build((None, D))
        reference.build((None, D))
        assert reference.compute_dtype == "float32"
        weights = [rng.normal(size=w.shape) / 2 for w in reference.get_weights()]
        reference.set_weights(weights)
        layer.set_weights(weights)
        pairs.append((layer, reference))
    outputs = run(lambda x: [(layer(x), ref(x)) for layer, ref in pairs], x)
    for y, y_ref in outputs:
        assert dtype_of(y) == "bfloat16" and dtype_of(y_ref) == "float32"
        y = keras.ops.convert_to_numpy(keras.ops.cast(y, "float32"))
        y_ref = keras.ops.convert_to_numpy(y_ref)
        scale = np.abs(y_ref).max()
        assert scale > 0.5
        # bfloat16 keeps 8 bits of mantissa: a few 1e-2 relative to the scale.
        np.testing.assert_allclose(y, y_ref, rtol=0, atol=0.05 * scale)
        assert not np.array_equal(y, y_ref)  # really computed in bfloat16
