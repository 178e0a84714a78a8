"""`LowRankDense`, `BottleneckAdapter`, `PromptEmbedding` against numpy, and
the config round trip of every layer."""

import json
import math

import keras
import numpy as np
import pytest

from keras_compacter.layers import (
    BottleneckAdapter,
    LowRankDense,
    PHMDense,
    PromptEmbedding,
    SharedPHMRule,
)

D = 16  # hidden size of every adapter test (few shapes: fast on JAX)


def np_zeros(shape, dtype=None):
    return np.zeros(shape, dtype=dtype or "float32")


def to_np(x):
    if isinstance(x, keras.Variable):
        x = x.value
    return np.asarray(keras.ops.convert_to_numpy(x), dtype="float64")


def assert_close(actual, expected, tol=1e-4):
    expected = np.asarray(expected, dtype="float64")
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(to_np(actual), expected, rtol=tol, atol=tol * scale)


def np_gelu_tanh(x):
    """GELU, tanh approximation (Hendrycks & Gimpel)."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def assign(variable, value):
    value = np.asarray(value, dtype="float32")
    variable.assign(value)
    return value.astype("float64")


def randomize_projection(layer, rng):
    """Random O(1)-output weights for a Dense, LowRankDense or PHMDense (the
    rule is only read when shared); returns the numpy `(W, b)` of
    `y = x W + b`, built independently of the layer (`np.kron`)."""
    if isinstance(layer, keras.layers.Dense):
        k, d = layer.kernel.shape
        w = assign(layer.kernel, rng.normal(size=(k, d)) / math.sqrt(k))
    elif isinstance(layer, LowRankDense):
        k, r, d = layer.input_dim, layer.rank, layer.units
        u = assign(layer.kernel_left, rng.normal(size=(k, r)))
        v = assign(layer.kernel_right, rng.normal(size=(r, d)) / math.sqrt(k * r))
        w = u @ v
    else:
        assert isinstance(layer, PHMDense)
        n, k, d = layer.phm_dim, layer.input_dim, layer.units
        p, q = k // n, d // n
        if layer.shared_rule is None:
            assign(layer.phm_rule, rng.normal(size=(n, n, n)))
        rule = to_np(layer.phm_rule)
        scale = 1.0 / math.sqrt(k * n)  # var(W) = 1 / k
        if layer.phm_rank is None:
            blocks = assign(layer.phm_kernel_full, rng.normal(size=(n, p, q)) * scale)
        else:
            r = layer.phm_rank
            s = assign(layer.phm_kernel_left, rng.normal(size=(n, p, r)))
            t = assign(
                layer.phm_kernel_right,
                rng.normal(size=(n, r, q)) * scale / math.sqrt(r),
            )
            blocks = np.stack([s[i] @ t[i] for i in range(n)])
        w = sum(np.kron(rule[i], blocks[i]) for i in range(n))
    b = assign(layer.bias, rng.normal(size=(layer.bias.shape[0],)))
    return w, b


# --------------------------------------------------------------------------
# LowRankDense.


def test_low_rank_dense_matches_numpy(rng, run):
    """x @ U @ V + b for ranks 1 and 3, with and without bias, 2-D and 3-D."""
    k, d = 8, 12
    cases = []
    for rank, use_bias in [(1, True), (3, True), (3, False)]:
        layer = LowRankDense(
            d, rank=rank, use_bias=use_bias, kernel_initializer=np_zeros
        )
        layer.build((None, k))
        u = assign(layer.kernel_left, rng.normal(size=(k, rank)))
        v = assign(layer.kernel_right, rng.normal(size=(rank, d)))
        b = assign(layer.bias, rng.normal(size=(d,))) if use_bias else np.zeros(d)
        assert layer.count_params() == k * rank + rank * d + (d if use_bias else 0)
        assert len(layer.trainable_weights) == (3 if use_bias else 2)
        cases.append((layer, u, v, b))
    x2 = rng.normal(size=(5, k)).astype("float32")
    x3 = rng.normal(size=(2, 3, k)).astype("float32")

    def forward(x2, x3):
        return [(layer(x2), layer(x3), layer.kernel) for layer, *_ in cases]

    for (_, u, v, b), (y2, y3, kernel) in zip(cases, run(forward, x2, x3)):
        assert_close(y2, x2 @ u @ v + b)
        assert_close(y3, x3 @ u @ v + b)
        assert_close(kernel, u @ v)


def test_low_rank_dense_default_initialisation():
    """Glorot-uniform factors, drawn independently; zero bias."""
    layer = LowRankDense(D, rank=2)
    layer.build((None, D))
    u, v = to_np(layer.kernel_left), to_np(layer.kernel_right)
    bound = math.sqrt(6.0 / (D + 2))  # the same for U (D, 2) and V (2, D)
    assert np.all(np.abs(u) <= bound + 1e-6) and np.all(np.abs(v) <= bound + 1e-6)
    assert np.abs(np.concatenate([u.ravel(), v.ravel()])).max() > 0.5 * bound
    # One seeded stream for both would make U.ravel() equal V.ravel().
    assert not np.allclose(u.ravel(), v.ravel())
    np.testing.assert_array_equal(to_np(layer.bias), np.zeros(D))


def test_low_rank_dense_rank_must_be_positive():
    with pytest.raises(ValueError, match="rank"):
        LowRankDense(8, rank=0)


# --------------------------------------------------------------------------
# BottleneckAdapter.

# The configurations share their shapes with test_saving / test_mixed_precision.
ADAPTERS = {
    "dense": {"reduction_factor": 2, "projection": "dense"},
    "low_rank": {"bottleneck_dim": 8, "projection": "low_rank", "low_rank": 2},
    "phm": {"reduction_factor": 2, "projection": "phm", "phm_dim": 4},
    "compacter": {
        "bottleneck_dim": 8,
        "projection": "phm",
        "phm_dim": 4,
        "phm_rank": 2,
        "shared": True,
    },
}


def make_adapter(name, **overrides):
    config = {**ADAPTERS[name], **overrides}
    rule = None
    if config.pop("shared", False):
        rule = SharedPHMRule(config["phm_dim"])
    return BottleneckAdapter(shared_rule=rule, **config), rule


def test_adapter_matches_numpy(rng, run):
    """x + up(gelu_tanh(down(x))) for every projection (one program on JAX)."""
    cases = {}
    for name in ADAPTERS:
        adapter, rule = make_adapter(name)
        adapter.build((None, None, D))
        if rule is not None:
            assign(rule.rule, rng.normal(size=(4, 4, 4)))
            assert adapter.down.shared_rule is rule and adapter.up.shared_rule is rule
        assert adapter.down.units == 8 and adapter.up.units == D, name
        w_down, b_down = randomize_projection(adapter.down, rng)
        w_up, b_up = randomize_projection(adapter.up, rng)
        assert w_down.shape == (D, 8) and w_up.shape == (8, D)
        cases[name] = (adapter, w_down, b_down, w_up, b_up)
    x3 = rng.normal(size=(2, 3, D)).astype("float32")
    x2 = rng.normal(size=(4, D)).astype("float32")

    def forward(x3, x2):
        return {name: (c[0](x3), c[0](x2)) for name, c in cases.items()}

    outputs = run(forward, x3, x2)
    for name, (_, w_down, b_down, w_up, b_up) in cases.items():
        for x, y in zip((x3, x2), outputs[name]):
            hidden = np_gelu_tanh(x @ w_down + b_down)
            # The activation is actually non-linear on these values.
            assert np.abs(hidden - (x @ w_down + b_down)).max() > 0.1
            assert tuple(y.shape) == x.shape, name
            # Tight: exact (erf) GELU would be off by > 1e-4 here.
            assert_close(y, x + hidden @ w_up + b_up, tol=1e-5)


def test_adapter_bottleneck_size():
    assert BottleneckAdapter(reduction_factor=4).resolve_bottleneck_dim(32) == 8
    assert BottleneckAdapter().resolve_bottleneck_dim(768) == 24  # default 32
    explicit = BottleneckAdapter(reduction_factor=4, bottleneck_dim=6)
    assert explicit.resolve_bottleneck_dim(32) == 6
    # Explicit, not divisible by the reduction factor, and used by build.
    adapter = BottleneckAdapter(reduction_factor=3, bottleneck_dim=8)
    adapter.build((None, D))
    assert tuple(adapter.down.kernel.shape) == (D, 8)
    assert tuple(adapter.up.kernel.shape) == (8, D)


def test_adapter_reduction_factor_must_divide_hidden_size():
    adapter = BottleneckAdapter(reduction_factor=3)
    with pytest.raises(ValueError) as info:
        adapter.build((None, D))
    assert "reduction_factor=3" in str(info.value) and str(D) in str(info.value)
    with pytest.raises(ValueError, match="reduction_factor=3"):
        BottleneckAdapter(reduction_factor=3)(np.ones((2, D), dtype="float32"))


def test_adapter_argument_errors():
    with pytest.raises(ValueError, match="projection"):
        BottleneckAdapter(projection="conv")
    with pytest.raises(ValueError, match="reduction_factor"):
        BottleneckAdapter(reduction_factor=0)
    with pytest.raises(ValueError, match="bottleneck_dim"):
        BottleneckAdapter(bottleneck_dim=0)
    with pytest.raises(ValueError, match="shared_rule"):
        BottleneckAdapter(
            projection="dense", shared_rule=SharedPHMRule(2, initializer=np_zeros)
        )
    with pytest.raises(ValueError, match="phm_dim"):
        BottleneckAdapter(
            bottleneck_dim=8,
            projection="phm",
            phm_dim=4,
            shared_rule=SharedPHMRule(2, initializer=np_zeros),
        ).build((None, D))


def test_adapter_initialisation():
    """Dense projections N(0, 0.01); every projection's bias is zero."""
    dense, _ = make_adapter("dense")
    dense.build((None, D))
    values = np.concatenate(
        [to_np(dense.down.kernel).ravel(), to_np(dense.up.kernel).ravel()]
    )
    assert abs(values.mean()) < 5 * 0.01 / math.sqrt(values.size)
    assert 0.0075 < values.std() < 0.0125
    for name in ADAPTERS:
        adapter, _ = make_adapter(name)
        adapter.build((None, D))
        for projection in (adapter.down, adapter.up):
            np.testing.assert_array_equal(to_np(projection.bias), 0.0)


# --------------------------------------------------------------------------
# PromptEmbedding.


def test_prompt_embedding_prepends_prompts_and_extends_mask(rng, run):
    prompt = PromptEmbedding(3, initializer=np_zeros)
    prompt.build((None, None, D))
    prompts = assign(prompt.embeddings, rng.normal(size=(3, D)))
    x = rng.normal(size=(2, 5, D)).astype("float32")
    masks = [
        np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=dtype)
        for dtype in ("bool", "int32", "float32")
    ]
    out, extended = run(
        lambda x, *ms: (prompt(x), [prompt(x, m) for m in ms]), x, *masks
    )
    expected = np.concatenate([np.broadcast_to(prompts, (2, 3, D)), x], axis=1)
    assert tuple(out.shape) == (2, 8, D)
    assert_close(out, expected)
    for mask, (out_m, new_mask) in zip(masks, extended):
        assert_close(out_m, expected)
        assert keras.backend.standardize_dtype(new_mask.dtype) == str(mask.dtype)
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(new_mask),
            np.concatenate([np.ones((2, 3), dtype=mask.dtype), mask], axis=1),
        )


def test_prompt_embedding_symbolic_shapes():
    prompt = PromptEmbedding(3, initializer="zeros")
    x, mask = prompt(keras.Input((5, D)), keras.Input((5,), dtype="int32"))
    assert tuple(x.shape) == (None, 8, D) and tuple(mask.shape) == (None, 8)
    assert prompt.compute_output_shape((None, None, D)) == (None, None, D)


def test_prompt_embedding_initialisation():
    prompt = PromptEmbedding(100)  # the paper's length
    prompt.build((None, None, D))
    values = to_np(prompt.embeddings)
    assert values.shape == (100, D)
    assert values.min() >= -0.5 and values.max() <= 0.5
    assert values.min() < -0.45 and values.max() > 0.45  # uses the whole range
    assert 0.8 / math.sqrt(12) < values.std() < 1.2 / math.sqrt(12)


def test_prompt_embedding_length_must_be_positive():
    with pytest.raises(ValueError, match="length"):
        PromptEmbedding(0)


# --------------------------------------------------------------------------
# get_config / from_config round trip of every layer.

ZEROS_PHM = {"phm_rule_initializer": "zeros", "kernel_initializer": "zeros"}


def _round_trip_cases():
    def shared(**kwargs):
        return PHMDense(
            shared_rule=SharedPHMRule(4, initializer="zeros"), **ZEROS_PHM, **kwargs
        )

    return {
        "phm_full": lambda: PHMDense(12, phm_dim=4, **ZEROS_PHM),
        "phm_low_rank": lambda: PHMDense(12, phm_dim=4, phm_rank=3, **ZEROS_PHM),
        "phm_no_bias": lambda: PHMDense(12, phm_dim=2, use_bias=False, **ZEROS_PHM),
        "phm_shared": lambda: shared(units=12, phm_dim=4, phm_rank=1),
        "low_rank": lambda: LowRankDense(12, rank=2, kernel_initializer="zeros"),
        "adapter_dense": lambda: make_adapter("dense")[0],
        "adapter_low_rank": lambda: make_adapter("low_rank")[0],
        "adapter_phm": lambda: make_adapter("phm")[0],
        "adapter_compacter": lambda: make_adapter("compacter")[0],
        "adapter_relu": lambda: make_adapter("dense", activation="relu")[0],
        "prompt": lambda: PromptEmbedding(3, initializer="zeros"),
    }


def _strip_sharing_tag(config, rule):
    """`config` without the shared rule's object id (checked to be `rule`'s)."""
    serialized = config.get("shared_rule")
    if serialized is None:
        return config
    assert serialized["shared_object_id"] == id(rule)
    serialized = {k: v for k, v in serialized.items() if k != "shared_object_id"}
    return {**config, "shared_rule": serialized}


def test_config_round_trip(rng, run):
    """from_config(get_config()) + set_weights(get_weights()): same outputs."""
    pairs = {}
    for name, make in _round_trip_cases().items():
        layer = make()
        hidden = D if name.startswith(("adapter", "prompt")) else 8
        x = rng.normal(size=(2, 3, hidden)).astype("float32")
        layer.build(x.shape)
        layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])

        config = layer.get_config()
        json.dumps(config)  # plain JSON, as .keras files store it
        clone = layer.__class__.from_config(config)
        clone.build(x.shape)
        rule = getattr(layer, "shared_rule", None)
        clone_rule = getattr(clone, "shared_rule", None)
        assert _strip_sharing_tag(clone.get_config(), clone_rule) == (
            _strip_sharing_tag(config, rule)
        ), name
        if rule is not None:
            # Outside a `.keras` load, a clone gets a rule of its own.
            assert clone.shared_rule is not layer.shared_rule
        assert len(clone.weights) == len(layer.weights), name
        clone.set_weights(layer.get_weights())
        pairs[name] = (layer, clone, x)

    def forward(xs):
        return {
            name: (layer(xs[name]), clone(xs[name]))
            for name, (layer, clone, _) in pairs.items()
        }

    outputs = run(forward, {name: x for name, (_, _, x) in pairs.items()})
    for name, (y, y_clone) in outputs.items():
        assert np.abs(to_np(y)).max() > 0, name
        np.testing.assert_array_equal(to_np(y_clone), to_np(y), err_msg=name)
    assert pairs["prompt"][1].length == 3
    # relu, not the default GELU.
    assert pairs["adapter_relu"][1].activation is keras.activations.relu


def test_shared_rule_config_round_trip():
    rule = SharedPHMRule(4, name="rule")
    config = rule.get_config()
    json.dumps(config)
    clone = SharedPHMRule.from_config(config)
    assert clone.phm_dim == 4 and clone.name == "rule"
    clone.set_weights(rule.get_weights())
    np.testing.assert_array_equal(to_np(clone.rule), to_np(rule.rule))
    assert clone(None) is clone.rule
