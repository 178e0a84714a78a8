"""`PHMDense` and `SharedPHMRule` against numpy references (`np.kron`, loops)."""

import math

import keras
import numpy as np
import pytest

from keras_compacter.layers import PHMDense, SharedPHMRule

# (n, input size k, units d): n divides both; n = 12 is the paper's largest.
SIZES = {2: (6, 10), 4: (8, 12), 12: (24, 36)}
LEAD_SHAPES = {2: (5,), 3: (2, 3), 4: (2, 3, 2)}


def np_zeros(shape, dtype=None):
    return np.zeros(shape, dtype=dtype or "float32")


# Tests that assign their own values skip the random initialisers: on JAX every
# new shape of a random (or even zeros) initialiser is a slow compilation.
ZEROS = {"phm_rule_initializer": np_zeros, "kernel_initializer": np_zeros}


def to_np(x):
    if isinstance(x, keras.Variable):
        x = x.value
    return np.asarray(keras.ops.convert_to_numpy(x), dtype="float64")


def assert_close(actual, expected, tol=1e-4):
    expected = np.asarray(expected, dtype="float64")
    scale = max(1.0, float(np.abs(expected).max())) if expected.size else 1.0
    np.testing.assert_allclose(to_np(actual), expected, rtol=tol, atol=tol * scale)


def np_kernel(rule, blocks):
    """`W = sum_i kron(A_i, B_i)`."""
    return sum(np.kron(rule[i], blocks[i]) for i in range(len(rule)))


def np_blocks(params):
    """The `B_i`: given, or `s_i @ t_i` for a low-rank layer."""
    if "B" in params:
        return params["B"]
    return np.stack([s @ t for s, t in zip(params["s"], params["t"])])


def randomize(layer, rng, set_rule=True):
    """Assigns random O(1) values to every weight; returns them as numpy.

    With `set_rule=False` the (shared) rule is left alone and only read.
    """
    n, k, d = layer.phm_dim, layer.input_dim, layer.units
    p, q = k // n, d // n
    params = {}
    if set_rule:
        layer.phm_rule.assign(rng.normal(size=(n, n, n)).astype("float32"))
    params["A"] = to_np(layer.phm_rule)
    if layer.phm_rank is None:
        params["B"] = rng.normal(size=(n, p, q)) / math.sqrt(p)
        layer.phm_kernel_full.assign(params["B"].astype("float32"))
    else:
        r = layer.phm_rank
        params["s"] = rng.normal(size=(n, p, r)) / math.sqrt(p)
        params["t"] = rng.normal(size=(n, r, q)) / math.sqrt(r)
        layer.phm_kernel_left.assign(params["s"].astype("float32"))
        layer.phm_kernel_right.assign(params["t"].astype("float32"))
    if layer.use_bias:
        params["b"] = rng.normal(size=(d,))
        layer.bias.assign(params["b"].astype("float32"))
    # Read back: the reference uses exactly the float32 values the layer holds.
    for name, value in params.items():
        params[name] = np.asarray(value, dtype="float32").astype("float64")
    return params


def make_layer(n, rank, rng, units=None, k=None, **kwargs):
    k_default, d_default = SIZES[n]
    k = k or k_default
    kwargs = {**ZEROS, **kwargs}
    layer = PHMDense(units or d_default, phm_dim=n, phm_rank=rank, **kwargs)
    layer.build((None, k))
    return layer, randomize(layer, rng, set_rule="shared_rule" not in kwargs)


def np_forward(x, params):
    w = np_kernel(params["A"], np_blocks(params))
    y = x.astype("float64") @ w
    return y + params["b"] if "b" in params else y


def np_grads(x, g, params):
    """Analytic gradients of `sum(g * (x W + b))`, by loops over the blocks."""
    a_rule, blocks = params["A"], np_blocks(params)
    n, p, q = blocks.shape
    w = np_kernel(a_rule, blocks)
    xm = x.reshape(-1, n * p).astype("float64")
    gm = g.reshape(-1, n * q).astype("float64")
    dw = xm.T @ gm  # dL/dW, (k, d)
    d_rule = np.zeros_like(a_rule)
    d_blocks = np.zeros_like(blocks)
    for i in range(n):
        for a in range(n):
            for b in range(n):
                block = dw[a * p : (a + 1) * p, b * q : (b + 1) * q]
                d_rule[i, a, b] = np.sum(block * blocks[i])
                d_blocks[i] += a_rule[i, a, b] * block
    grads = {"A": d_rule, "x": (gm @ w.T).reshape(x.shape), "b": gm.sum(axis=0)}
    if "B" in params:
        grads["B"] = d_blocks
    else:
        grads["s"] = np.stack([db @ t.T for db, t in zip(d_blocks, params["t"])])
        grads["t"] = np.stack([s.T @ db for db, s in zip(d_blocks, params["s"])])
    return grads


def weight_of(layer, name):
    """The variable holding numpy parameter `name` of `randomize`."""
    return {
        "A": layer.phm_rule,
        "B": getattr(layer, "phm_kernel_full", None),
        "s": getattr(layer, "phm_kernel_left", None),
        "t": getattr(layer, "phm_kernel_right", None),
        "b": layer.bias,
    }[name]


# --------------------------------------------------------------------------
# Forward pass, materialised kernel, parameter count.


@pytest.mark.parametrize("rank", [None, 1, 3])
def test_output_and_kernel_match_numpy_kron(rank, rng, run):
    """n in {2, 4, 12} on 3-D inputs, and 2-D, 4-D inputs (one program on JAX)."""
    cases = []
    for n, ndims in [(2, (2, 3)), (4, (3, 4)), (12, (3,))]:
        layer, params = make_layer(n, rank, rng)
        k = SIZES[n][0]
        xs = [
            rng.normal(size=(*LEAD_SHAPES[ndim], k)).astype("float32") for ndim in ndims
        ]
        cases.append((n, layer, params, xs))

    def forward(all_xs):
        return [
            (
                [layer(x) for x in xs],
                layer.kernel,
                keras.ops.convert_to_tensor(layer.phm_kernel),
            )
            for (_, layer, _, _), xs in zip(cases, all_xs)
        ]

    results = run(forward, [xs for *_, xs in cases])
    for (n, layer, params, xs), (ys, kernel, blocks) in zip(cases, results):
        k, d = SIZES[n]
        for x, y in zip(xs, ys):
            assert tuple(y.shape) == (*x.shape[:-1], d), (n, x.shape)
            assert_close(y, np_forward(x, params))
        # `kernel` is W = sum_i kron(A_i, B_i).
        assert tuple(kernel.shape) == (k, d)
        assert_close(kernel, np_kernel(params["A"], np_blocks(params)))
        assert_close(layer.phm_rule, params["A"])
        # `phm_kernel` is B_i, or s_i t_i^T (by a loop over i) for low rank.
        assert tuple(blocks.shape) == (n, k // n, d // n)
        if rank is None:
            assert_close(blocks, params["B"])
        else:
            expected = np.stack([params["s"][i] @ params["t"][i] for i in range(n)])
            assert_close(blocks, expected)


def test_without_bias(rng, run):
    k, d = SIZES[4]
    cases = []
    for rank in (None, 2):
        layer, params = make_layer(4, rank, rng, use_bias=False)
        assert layer.bias is None and "b" not in params
        core = k * d // 4 if rank is None else 4 * (k // 4 * rank + rank * d // 4)
        assert layer.count_params() == 4**3 + core
        cases.append((layer, params))
    x = rng.normal(size=(2, 3, k)).astype("float32")
    outputs = run(lambda x: [layer(x) for layer, _ in cases], x)
    for (_, params), y in zip(cases, outputs):
        assert_close(y, np_forward(x, params))


@pytest.mark.parametrize("rank", [None, 1, 3])
@pytest.mark.parametrize("n", [2, 4, 12])
def test_parameter_count(n, rank):
    k, d = SIZES[n]
    layer = PHMDense(d, phm_dim=n, phm_rank=rank, **ZEROS)
    layer.build((None, k))
    if rank is None:
        expected = n**3 + k * d // n + d
    else:
        expected = n**3 + n * (k // n * rank + rank * d // n) + d
    assert layer.count_params() == expected
    assert sum(math.prod(w.shape) for w in layer.trainable_weights) == expected


@pytest.mark.parametrize("rank", [None, 1, 3])
@pytest.mark.parametrize("n", [2, 4, 12])
def test_parameter_count_with_shared_rule(n, rank):
    """A layer's own weights exclude the rule; a model counts the rule once."""
    k, d = SIZES[n]
    rule = SharedPHMRule(n, initializer=np_zeros)
    first = PHMDense(d, phm_dim=n, phm_rank=rank, shared_rule=rule, **ZEROS)
    second = PHMDense(k, phm_dim=n, phm_rank=rank, shared_rule=rule, **ZEROS)
    inputs = keras.Input((k,))
    model = keras.Model(inputs, second(first(inputs)))

    def own(layer):
        return sum(math.prod(w.shape) for w in layer.weights if w is not rule.rule)

    if rank is None:
        assert own(first) == k * d // n + d
        assert own(second) == d * k // n + k
    else:
        assert own(first) == n * (k // n * rank + rank * d // n) + d
        assert own(second) == n * (d // n * rank + rank * k // n) + k
    assert model.count_params() == n**3 + own(first) + own(second)
    assert first.phm_rule is rule.rule and second.phm_rule is rule.rule


def test_symbolic_output_shape():
    layer = PHMDense(12, phm_dim=4, phm_rank=2, **ZEROS)
    out = layer(keras.Input((3, 8)))
    assert tuple(out.shape) == (None, 3, 12)
    assert layer.compute_output_shape((None, 3, 8)) == (None, 3, 12)


# --------------------------------------------------------------------------
# Gradients.


def test_gradients_of_factored_call_match_materialised_kernel(rng, grad):
    """Full rank (n=2), rank 1 (n=4), rank 3 (n=12): d/d(every weight) and d/dx
    of the factored `call` equal those of `x @ kernel + bias`, and numpy's."""
    cases = []
    for n, rank in [(2, None), (4, 1), (12, 3)]:
        layer, params = make_layer(n, rank, rng)
        k, d = SIZES[n]
        x = rng.normal(size=(2, 3, k)).astype("float32")
        g = rng.normal(size=(2, 3, d)).astype("float32")
        assert len(layer.trainable_weights) == len(params)
        cases.append((layer, params, x, g))
    layers = [layer for layer, *_ in cases]
    gs = [keras.ops.convert_to_tensor(g) for *_, g in cases]
    variables = [w for layer in layers for w in layer.trainable_weights]
    xs = [x for _, _, x, _ in cases]

    def factored(*xs):
        return sum(keras.ops.sum(layer(x) * g) for layer, x, g in zip(layers, xs, gs))

    def materialised(*xs):
        return sum(
            keras.ops.sum((keras.ops.matmul(x, layer.kernel) + layer.bias) * g)
            for layer, x, g in zip(layers, xs, gs)
        )

    var_f, x_f = grad(factored, variables, xs)
    var_m, x_m = grad(materialised, variables, xs)
    for gf, gm in zip(var_f + x_f, var_m + x_m):
        assert_close(gf, gm)

    # And both equal the analytic numpy gradients.
    by_variable = {id(v): gf for v, gf in zip(variables, var_f)}
    for (layer, params, x, g), dx in zip(cases, x_f):
        expected = np_grads(x, g, params)
        for name in params:
            assert_close(by_variable[id(weight_of(layer, name))], expected[name])
        assert_close(dx, expected["x"])


# --------------------------------------------------------------------------
# Shared rule.


def test_shared_rule_is_one_variable_in_a_model():
    rule = SharedPHMRule(4, initializer=np_zeros)
    down = PHMDense(8, phm_dim=4, phm_rank=1, shared_rule=rule, **ZEROS)
    up = PHMDense(16, phm_dim=4, phm_rank=1, shared_rule=rule, **ZEROS)
    inputs = keras.Input((16,))
    model = keras.Model(inputs, up(down(inputs)))
    ids = [id(w) for w in model.weights]
    assert len(ids) == len(set(ids))
    assert sum(w is rule.rule for w in model.weights) == 1
    assert sum(w is rule.rule for w in model.trainable_weights) == 1
    # rule + (s, t, bias) per layer.
    assert len(model.weights) == 1 + 3 + 3
    assert tuple(rule.rule.shape) == (4, 4, 4)


def test_shared_rule_gradient_is_sum_of_per_layer_gradients(rng, grad):
    n = 4
    rule = SharedPHMRule(n, initializer=np_zeros)
    rule.rule.assign(rng.normal(size=(n, n, n)).astype("float32"))
    layer_a, params_a = make_layer(n, 2, rng, units=12, k=8, shared_rule=rule)
    layer_b, params_b = make_layer(n, None, rng, units=8, k=16, shared_rule=rule)
    xa = rng.normal(size=(5, 8)).astype("float32")
    xb = rng.normal(size=(2, 3, 16)).astype("float32")
    ga = rng.normal(size=(5, 12)).astype("float32")
    gb = rng.normal(size=(2, 3, 8)).astype("float32")

    def both(xa, xb, ga, gb):
        return keras.ops.sum(layer_a(xa) * ga) + keras.ops.sum(layer_b(xb) * gb)

    (d_rule,), _ = grad(both, [rule.rule], [xa, xb, ga, gb])
    # numpy per-layer gradients (loops over the blocks, as checked against
    # the materialised path above), summed.
    expected_a = np_grads(xa, ga, params_a)["A"]
    expected_b = np_grads(xb, gb, params_b)["A"]
    assert_close(d_rule, expected_a + expected_b)
    # Each layer contributes a non-negligible part.
    assert np.abs(expected_a).max() > 1e-1 and np.abs(expected_b).max() > 1e-1


def test_shared_rule_gradient_through_chained_layers(rng, grad):
    """`up(down(x))` sharing a rule: every gradient equals numpy's."""
    n = 4
    rule = SharedPHMRule(n, initializer=np_zeros)
    rule.rule.assign(rng.normal(size=(n, n, n)).astype("float32"))
    down, params_down = make_layer(n, 1, rng, units=8, k=16, shared_rule=rule)
    up, params_up = make_layer(n, None, rng, units=16, k=8, shared_rule=rule)
    x = rng.normal(size=(3, 16)).astype("float32")
    g = rng.normal(size=(3, 16)).astype("float32")
    variables = [
        rule.rule,
        down.phm_kernel_left,
        down.phm_kernel_right,
        down.bias,
        up.phm_kernel_full,
        up.bias,
    ]
    assert {id(v) for v in variables} == {id(w) for w in down.weights + up.weights}

    def loss(x, g):
        return keras.ops.sum(up(down(x)) * g)

    var_grads, (dx, _) = grad(loss, variables, [x, g])
    # numpy: h = x W1 + b1, y = h W2 + b2; layer "down" sees dL/dh = g W2^T.
    w1 = np_kernel(params_down["A"], np_blocks(params_down))
    w2 = np_kernel(params_up["A"], np_blocks(params_up))
    h = x @ w1 + params_down["b"]
    grads_down = np_grads(x, g @ w2.T, params_down)
    grads_up = np_grads(h, g, params_up)
    expected = [
        grads_down["A"] + grads_up["A"],
        grads_down["s"],
        grads_down["t"],
        grads_down["b"],
        grads_up["B"],
        grads_up["b"],
    ]
    for actual, wanted in zip(var_grads, expected):
        assert_close(actual, wanted)
    assert_close(dx, g @ w2.T @ w1.T)


# --------------------------------------------------------------------------
# Initialisers (the paper's; statistical checks with generous tolerances).
# n = 12, k = d = 48: every B_i, s_i, t_i is (4, 4), 192 values per tensor.


def _check_std(values, std, rel=0.2):
    values = np.asarray(values, dtype="float64").ravel()
    assert abs(values.mean()) < 5 * std / math.sqrt(values.size)
    assert (1 - rel) * std < values.std() < (1 + rel) * std


def _check_glorot_slices(values, rows, cols):
    bound = math.sqrt(6.0 / (rows + cols))
    values = to_np(values)
    assert np.all(np.abs(values) <= bound + 1e-6)
    # Per-slice fans, not those of the stacked tensor (sqrt(n) times smaller).
    assert np.abs(values).max() > 0.8 * bound
    _check_std(values, bound / math.sqrt(3.0))


def test_shared_rule_initialiser_std():
    rule = SharedPHMRule(12)
    _check_std(to_np(rule.rule), 1e-4)


@pytest.mark.parametrize("rank", [None, 4])
def test_default_initialisers(rank):
    """Own rule N(0, 0.01); B_i (or s_i, t_i) per-slice Glorot; zero bias."""
    n, k, d = 12, 48, 48
    layer = PHMDense(d, phm_dim=n, phm_rank=rank)
    layer.build((None, k))
    _check_std(to_np(layer.phm_rule), 0.01)
    p, q = k // n, d // n
    if rank is None:
        _check_glorot_slices(layer.phm_kernel_full, p, q)
    else:
        _check_glorot_slices(layer.phm_kernel_left, p, rank)
        _check_glorot_slices(layer.phm_kernel_right, rank, q)
        # s and t have the same shape and bound here: they must still be
        # drawn independently (not from one seeded stream).
        s, t = to_np(layer.phm_kernel_left), to_np(layer.phm_kernel_right)
        assert s.shape == t.shape
        assert np.abs(np.corrcoef(s.ravel(), t.ravel())[0, 1]) < 0.5
    np.testing.assert_array_equal(to_np(layer.bias), np.zeros(d))


def test_two_layers_get_different_initial_values():
    a = PHMDense(48, phm_dim=12)
    b = PHMDense(48, phm_dim=12)
    a.build((None, 48))
    b.build((None, 48))
    assert not np.allclose(to_np(a.phm_kernel_full), to_np(b.phm_kernel_full))
    assert not np.allclose(to_np(a.phm_rule), to_np(b.phm_rule))


# --------------------------------------------------------------------------
# Errors.


@pytest.mark.parametrize(
    "in_dim, units, n", [(10, 12, 4), (8, 10, 4), (9, 15, 2), (12, 12, 5)]
)
def test_phm_dim_must_divide_input_size_and_units(in_dim, units, n):
    layer = PHMDense(units, phm_dim=n)
    with pytest.raises(ValueError) as info:
        layer.build((None, in_dim))
    message = str(info.value)
    assert f"phm_dim={n}" in message
    assert f"input size ({in_dim})" in message
    assert f"units ({units})" in message


def test_divisibility_error_on_call():
    layer = PHMDense(12, phm_dim=4)
    with pytest.raises(ValueError, match=r"input size \(10\)"):
        layer(np.ones((2, 10), dtype="float32"))


@pytest.mark.parametrize("rank", [0, -1])
def test_phm_rank_must_be_positive(rank):
    with pytest.raises(ValueError, match="phm_rank"):
        PHMDense(8, phm_dim=2, phm_rank=rank)


def test_phm_dim_must_be_positive():
    with pytest.raises(ValueError, match="phm_dim"):
        PHMDense(8, phm_dim=0)
    with pytest.raises(ValueError, match="phm_dim"):
        SharedPHMRule(0)


def test_shared_rule_of_wrong_phm_dim():
    with pytest.raises(ValueError) as info:
        PHMDense(8, phm_dim=4, shared_rule=SharedPHMRule(2, initializer=np_zeros))
    assert "phm_dim=2" in str(info.value) and "phm_dim=4" in str(info.value)


@pytest.mark.parametrize(
    "bad",
    [
        lambda: keras.layers.Dense(4),
        lambda: keras.Variable(np.zeros((2, 2, 2), dtype="float32")),
        lambda: np.zeros((2, 2, 2)),
    ],
)
def test_shared_rule_of_wrong_type(bad):
    with pytest.raises(TypeError, match="SharedPHMRule"):
        PHMDense(8, phm_dim=2, shared_rule=bad())
