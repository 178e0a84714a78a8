"""Fastfood transform of Intrinsic-SAID against dense numpy references.

The references build the transform as explicit matrices from the same random
parts: `P = (H diag(G) Pi H diag(B))[:D, :d] / (divisor * sqrt(D / LL))`,
with `H` the unnormalised Sylvester Hadamard matrix and `Pi` the permutation
matrix of the gather `x[permutation]`.
"""

import doctest

import keras
import numpy as np
import pytest
from keras import ops

from keras_compacter.layers.fastfood import (
    FastfoodParameters,
    FastfoodProjection,
    fast_walsh_hadamard,
    fastfood_parameters,
    fastfood_transform,
)

# (d, D): D a power of two or not, d < LL, d == LL, d == D, D == 1. The tests
# reuse a few padded sizes LL (1, 8, 16, 128) to keep JAX's per-shape eager
# compilation short.
SIZES = [(1, 1), (3, 5), (5, 12), (8, 8), (16, 13), (7, 100), (128, 100)]


def to_np(x):
    return np.asarray(ops.convert_to_numpy(x), dtype="float64")


def assert_close(actual, expected, tol=1e-5):
    expected = np.asarray(expected, dtype="float64")
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(to_np(actual), expected, rtol=tol, atol=tol * scale)


def compiled(fn):
    """`fn` compiled as one function on JAX, as it runs in training.

    Eager JAX compiles every op anew for each new shape, which would dominate
    the run time of these tests; the other backends run `fn` eagerly. (The
    layer tests below run eagerly on every backend.)
    """
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(fn)
    return fn


def fwht(x):
    return compiled(fast_walsh_hadamard)(x)


def transform(z, params, output_size):
    return compiled(lambda z: fastfood_transform(z, params, output_size))(z)


def hadamard(n):
    """Sylvester construction: H_1 = [[1]], H_2n = [[H, H], [H, -H]]."""
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h


def dense_fastfood(params, d, output_size):
    """The transform as an explicit `(D, d)` matrix, in float64."""
    ll = params.padded_size
    h = hadamard(ll)
    permutation = np.eye(ll)[params.permutation]  # (Pi @ v)[i] = v[perm[i]]
    full = (
        h
        @ np.diag(params.gaussian.astype("float64"))
        @ permutation
        @ h
        @ np.diag(params.signs.astype("float64"))
    )
    scale = params.divisor * np.sqrt(output_size / ll)
    return full[:output_size, :d] / scale


# --- fast_walsh_hadamard ---------------------------------------------------


def test_sylvester_reference_matches_scipy():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    for n in (1, 2, 8, 64):
        np.testing.assert_array_equal(hadamard(n), scipy_linalg.hadamard(n))


@pytest.mark.parametrize("n", [1, 2, 8, 64])
def test_fwht_is_multiplication_by_hadamard_matrix(n, rng):
    x = rng.normal(size=(n,)).astype("float32")
    assert_close(fwht(x), hadamard(n) @ x)


@pytest.mark.parametrize("n", [1, 2, 8, 64])
def test_fwht_batched(n, rng):
    x = rng.normal(size=(2, 3, n)).astype("float32")
    out = fwht(x)
    assert tuple(out.shape) == (2, 3, n)
    assert_close(out, x @ hadamard(n))  # H is symmetric


def test_fwht_unnormalised_inverse():
    # H H = n I: applying it twice scales by n (no 1/sqrt(n) normalisation).
    x = np.arange(16, dtype="float32")
    assert_close(fwht(fwht(x)), 16 * x)


@pytest.mark.parametrize("n", [0, 3, 6, 12])
def test_fwht_rejects_non_power_of_two(n):
    with pytest.raises(ValueError, match="power-of-two"):
        fast_walsh_hadamard(np.zeros((2, n), dtype="float32"))


def test_fwht_rejects_scalar():
    with pytest.raises(ValueError, match="at least one axis"):
        fast_walsh_hadamard(np.float32(1.0))


# --- fastfood_parameters -----------------------------------------------------


def test_parameters_hard_coded_seed_0():
    # Pasted from numpy's default_rng(0) (signs, then permutation, then
    # Gaussian): a change of generator or of draw order breaks this test.
    params = fastfood_parameters(5, seed=0)
    assert isinstance(params, FastfoodParameters)
    assert params.padded_size == 8
    np.testing.assert_array_equal(params.signs, [1, 1, 1, -1, -1, -1, -1, -1])
    np.testing.assert_array_equal(params.permutation, [6, 2, 7, 4, 5, 1, 0, 3])
    np.testing.assert_allclose(
        params.gaussian[:4], [-0.62327445, 0.04132598, -2.3250308, -0.21879166]
    )
    assert params.divisor == pytest.approx(8.162641876752623, rel=1e-12)
    assert params.signs.dtype == np.float32
    assert params.gaussian.dtype == np.float32
    assert params.permutation.dtype == np.int32


@pytest.mark.parametrize("output_size", [1, 5, 8, 100, 1000])
def test_parameters_structure(output_size):
    params = fastfood_parameters(output_size, seed=3)
    ll = params.padded_size
    assert ll >= output_size and ll & (ll - 1) == 0 and ll < 2 * output_size + 1
    assert params.signs.shape == params.permutation.shape == (ll,)
    assert params.gaussian.shape == (ll,)
    assert set(np.unique(params.signs)) <= {-1.0, 1.0}
    np.testing.assert_array_equal(np.sort(params.permutation), np.arange(ll))
    expected = np.sqrt(ll * np.sum(params.gaussian.astype("float64") ** 2))
    assert params.divisor == pytest.approx(expected, rel=1e-12)


def test_parameters_same_seed_same_parts_different_seed_differs():
    a, b = fastfood_parameters(100, 7), fastfood_parameters(100, 7)
    for name in ("signs", "permutation", "gaussian"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.divisor == b.divisor
    c = fastfood_parameters(100, 8)
    assert not np.array_equal(a.signs, c.signs)
    assert not np.array_equal(a.permutation, c.permutation)
    assert not np.array_equal(a.gaussian, c.gaussian)


def test_parameters_are_read_only():
    params = fastfood_parameters(8, 0)
    with pytest.raises(ValueError):
        params.signs[0] = 5.0
    with pytest.raises(AttributeError):
        params.divisor = 1.0


@pytest.mark.parametrize(
    "output_size, seed",
    [(0, 0), (-3, 0), (2.0, 0), (True, 0), (4, -1), (4, 1.5), (4, "0"), (4, None)],
)
def test_parameters_reject_bad_arguments(output_size, seed):
    with pytest.raises(ValueError, match="must be a"):
        fastfood_parameters(output_size, seed)


# --- fastfood_transform ------------------------------------------------------


@pytest.mark.parametrize("d, output_size", SIZES)
def test_transform_matches_dense_reference(d, output_size, rng):
    params = fastfood_parameters(output_size, seed=11)
    z = rng.normal(size=(d,)).astype("float32")
    out = transform(z, params, output_size)
    assert tuple(out.shape) == (output_size,)
    assert_close(out, dense_fastfood(params, d, output_size) @ z)


def test_transform_hard_coded_seed_0():
    # Dense reference values for seed 0, D = 5 (LL = 8), z = [1, -2], pasted.
    out = transform(np.array([1.0, -2.0], "float32"), fastfood_parameters(5, 0), 5)
    expected = [-1.9391395, -1.0192031, 0.280229, 0.7476047, 0.0255417]
    assert_close(out, expected, tol=1e-5)


def test_transform_batched(rng):
    params = fastfood_parameters(12, seed=2)
    z = rng.normal(size=(2, 3, 5)).astype("float32")
    out = transform(z, params, 12)
    assert tuple(out.shape) == (2, 3, 12)
    assert_close(out, z @ dense_fastfood(params, 5, 12).T)


def test_transform_same_seed_same_output_different_seed_differs(rng):
    z = rng.normal(size=(6,)).astype("float32")
    out_a = to_np(transform(z, fastfood_parameters(12, 4), 12))
    out_b = to_np(transform(z, fastfood_parameters(12, 4), 12))
    out_c = to_np(transform(z, fastfood_parameters(12, 5), 12))
    np.testing.assert_array_equal(out_a, out_b)
    assert not np.allclose(out_a, out_c)


@pytest.mark.parametrize("output_size", [1, 2, 16])
def test_columns_have_unit_norm_when_output_size_is_padded_size(output_size):
    # With D = LL each column of H G Pi H B has norm divisor exactly
    # (|H v|^2 = LL |v|^2 and H B e_j is a +-1 vector), so the columns of the
    # normalised transform are unit vectors. Row j of the batched output for
    # the identity is the transform of e_j, i.e. column j.
    params = fastfood_parameters(output_size, seed=9)
    columns = to_np(
        transform(np.eye(output_size, dtype="float32"), params, output_size)
    )
    np.testing.assert_allclose(np.linalg.norm(columns, axis=-1), 1.0, rtol=1e-5)


def test_truncated_output_is_rescaled_prefix_of_padded_output(rng):
    # The parts depend only on LL; D < LL keeps the first D outputs and divides
    # by sqrt(D / LL) instead of 1.
    z = rng.normal(size=(4,)).astype("float32")
    full = to_np(transform(z, fastfood_parameters(16, 0), 16))
    part = to_np(transform(z, fastfood_parameters(11, 0), 11))
    np.testing.assert_allclose(part, full[:11] / np.sqrt(11 / 16), rtol=1e-5, atol=1e-6)


def test_transform_is_linear(rng):
    params = fastfood_parameters(13, seed=6)
    x, y = rng.normal(size=(2, 9)).astype("float32")
    lhs = transform(2.0 * x - 3.0 * y, params, 13)
    rhs = 2.0 * to_np(transform(x, params, 13)) - 3.0 * to_np(transform(y, params, 13))
    assert_close(lhs, rhs)


@pytest.mark.parametrize("d, output_size", [(1, 1), (3, 5), (16, 13), (128, 100)])
def test_gradient_matches_dense_transpose(d, output_size, grad, rng):
    params = fastfood_parameters(output_size, seed=12)
    z = rng.normal(size=(d,)).astype("float32")
    upstream = rng.normal(size=(output_size,)).astype("float32")

    def loss(z):
        return ops.sum(
            ops.multiply(fastfood_transform(z, params, output_size), upstream)
        )

    _, (dz,) = grad(loss, [], [z])
    assert_close(dz, dense_fastfood(params, d, output_size).T @ upstream)


def test_fwht_gradient_is_hadamard(grad, rng):
    # The FWHT is its own (unnormalised) transpose, so is its gradient.
    x = rng.normal(size=(16,)).astype("float32")
    upstream = rng.normal(size=(16,)).astype("float32")
    _, (dx,) = grad(
        lambda x: ops.sum(ops.multiply(fast_walsh_hadamard(x), upstream)), [], [x]
    )
    assert_close(dx, hadamard(16) @ upstream)


def test_transform_dtypes(rng):
    params = fastfood_parameters(12, seed=0)
    z = rng.normal(size=(5,)).astype("float32")
    expected = dense_fastfood(params, 5, 12) @ z
    half = fastfood_transform(ops.cast(z, "float16"), params, 12)
    assert keras.backend.standardize_dtype(half.dtype) == "float16"
    assert_close(half, expected, tol=2e-3)
    ints = fastfood_transform(np.array([1, 0, 2], "int32"), params, 12)
    assert keras.backend.standardize_dtype(ints.dtype) == keras.config.floatx()
    assert_close(ints, dense_fastfood(params, 3, 12) @ np.array([1.0, 0.0, 2.0]))


def test_transform_errors():
    params = fastfood_parameters(5, seed=0)  # LL = 8
    with pytest.raises(ValueError, match="only takes up to padded_size=8"):
        fastfood_transform(np.zeros(9, "float32"), params, 5)
    with pytest.raises(ValueError, match="does not match output_size=20"):
        fastfood_transform(np.zeros(3, "float32"), params, 20)
    with pytest.raises(TypeError, match="FastfoodParameters"):
        fastfood_transform(np.zeros(3, "float32"), (1, 2, 3, 4, 8), 5)
    with pytest.raises(ValueError, match="at least one axis"):
        fastfood_transform(np.float32(1.0), params, 5)
    with pytest.raises(ValueError, match="positive integer"):
        fastfood_transform(np.zeros(3, "float32"), params, 0)


# --- FastfoodProjection -------------------------------------------------------


def test_layer_matches_dense_reference_and_has_no_weights(rng):
    layer = FastfoodProjection(output_shape=(2, 3, 2), seed=21)
    z = rng.normal(size=(10,)).astype("float32")
    out = layer(z)
    assert tuple(out.shape) == (2, 3, 2)
    params = fastfood_parameters(12, 21)
    assert_close(out, (dense_fastfood(params, 10, 12) @ z).reshape(2, 3, 2))
    assert len(layer.weights) == 0
    assert len(layer.trainable_weights) == 0
    assert len(layer.non_trainable_weights) == 0


def test_layer_hard_coded_seed_0():
    out = FastfoodProjection((5,), seed=0)(np.array([1.0, -2.0], "float32"))
    assert_close(out, [-1.9391395, -1.0192031, 0.280229, 0.7476047, 0.0255417])


def test_layer_output_shapes(rng):
    layer = FastfoodProjection(output_shape=(6, 2), seed=0)
    assert layer.output_shape == (6, 2)
    assert layer.compute_output_shape((5,)) == (6, 2)
    assert layer.compute_output_shape((None, 5)) == (None, 6, 2)
    z = rng.normal(size=(3, 5)).astype("float32")
    out = layer(z)
    assert tuple(out.shape) == (3, 6, 2)
    single = to_np(layer(z[1]))
    np.testing.assert_allclose(to_np(out)[1], single, rtol=1e-6, atol=1e-6)
    symbolic = FastfoodProjection(output_shape=(6, 2), seed=0)(keras.Input((5,)))
    assert tuple(symbolic.shape) == (None, 6, 2)
    assert tuple(FastfoodProjection(7, seed=0)(z[0]).shape) == (7,)


def test_layer_gradient(grad, rng):
    layer = FastfoodProjection(output_shape=(3, 4), seed=5)
    z = rng.normal(size=(6,)).astype("float32")
    upstream = rng.normal(size=(3, 4)).astype("float32")
    _, (dz,) = grad(lambda z: ops.sum(ops.multiply(layer(z), upstream)), [], [z])
    dense = dense_fastfood(fastfood_parameters(12, 5), 6, 12)
    assert_close(dz, dense.T @ upstream.reshape(-1))


@pytest.mark.parametrize(
    "d, output_shape", [(1, (1,)), (3, (5,)), (6, (3, 4)), (16, (13,)), (7, (10, 10))]
)
def test_layer_scale_output_and_gradients_match_dense(d, output_shape, grad, rng):
    # `layer(z, scale=s)` is `s * P z`; its hand-written gradient gives
    # `s * P^T g` for `z` and `<P z, g>` for `s`.
    layer = FastfoodProjection(output_shape=output_shape, seed=8, input_size=d)
    size = int(np.prod(output_shape))
    dense = dense_fastfood(fastfood_parameters(size, 8), d, size)
    z = rng.normal(size=(d,)).astype("float32")
    s = np.float32(-1.7)
    upstream = rng.normal(size=output_shape).astype("float32")
    out = layer(z, scale=s)
    assert tuple(out.shape) == output_shape
    assert_close(out, (s * (dense @ z)).reshape(output_shape))

    def loss(z, s):
        return ops.sum(ops.multiply(layer(z, scale=s), upstream))

    _, (dz, ds) = grad(loss, [], [z, s])
    assert_close(dz, s * (dense.T @ upstream.reshape(-1)))
    assert_close(ds, (dense @ z) @ upstream.reshape(-1))


def test_batched_gradient_matches_dense_transpose(grad, rng):
    # Leading axes: the transposed gather sums each batch row on its own.
    params = fastfood_parameters(100, seed=4)
    z = rng.normal(size=(2, 3, 7)).astype("float32")
    upstream = rng.normal(size=(2, 3, 100)).astype("float32")

    def loss(z):
        return ops.sum(ops.multiply(fastfood_transform(z, params, 100), upstream))

    _, (dz,) = grad(loss, [], [z])
    assert_close(dz, upstream @ dense_fastfood(params, 7, 100))


def test_gradient_under_jit_on_jax(rng):
    # The custom gradient inside a compiled function, as in training.
    if keras.backend.backend() != "jax":
        pytest.skip("jax.jit")
    import jax

    layer = FastfoodProjection(output_shape=(100,), seed=3, input_size=9)
    dense = dense_fastfood(fastfood_parameters(100, 3), 9, 100)
    z = rng.normal(size=(9,)).astype("float32")
    upstream = rng.normal(size=(100,)).astype("float32")

    def loss(z, s):
        return jax.numpy.sum(layer(z, scale=s) * upstream)

    dz, ds = jax.jit(jax.grad(loss, argnums=(0, 1)))(z, np.float32(0.5))
    assert_close(dz, 0.5 * dense.T @ upstream)
    assert_close(ds, (dense @ z) @ upstream)


def test_layer_holds_only_what_its_input_size_needs(rng):
    # With `input_size`, the constants are made at construction: B[:m] and
    # `Pi mod m` for m = next power of two >= d (int16 when it fits), and G.
    layer = FastfoodProjection(output_shape=(10, 10), seed=5, input_size=7)
    assert layer.input_size == 7
    (block,) = layer._constants
    constants = layer._constants[block]
    params = fastfood_parameters(100, 5)
    assert block == constants.block == 8
    np.testing.assert_array_equal(to_np(constants.signs), params.signs[:8])
    np.testing.assert_array_equal(to_np(constants.index), params.permutation % 8)
    assert keras.backend.standardize_dtype(constants.index.dtype) == "int16"
    assert tuple(constants.scaled_gaussian.shape) == (128,)
    # Another input size still works (its own constants).
    z = rng.normal(size=(20,)).astype("float32")
    assert_close(layer(z), (dense_fastfood(params, 20, 100) @ z).reshape(10, 10))
    assert sorted(layer._constants) == [8, 32]
    # Without `input_size`, nothing is made until the first call.
    assert FastfoodProjection(output_shape=(10, 10), seed=5)._constants == {}
    with pytest.raises(ValueError, match="only takes up to padded_size=128"):
        FastfoodProjection(output_shape=(10, 10), seed=5, input_size=129)


def test_layer_rejects_non_scalar_scale():
    layer = FastfoodProjection(output_shape=(4,), seed=0)
    with pytest.raises(ValueError, match="scalar"):
        layer(np.ones(2, "float32"), scale=np.ones(2, "float32"))


def test_layer_config_round_trip(rng):
    layer = FastfoodProjection(output_shape=(5, 3), seed=17, name="ff")
    config = layer.get_config()
    assert config["output_shape"] == (5, 3) and config["seed"] == 17
    assert config["input_size"] is None
    sized = FastfoodProjection.from_config(
        FastfoodProjection(output_shape=(5, 3), seed=17, input_size=7).get_config()
    )
    assert sized.input_size == 7
    z = rng.normal(size=(7,)).astype("float32")
    clone = FastfoodProjection.from_config(config)
    np.testing.assert_array_equal(to_np(clone(z)), to_np(layer(z)))
    assert clone.name == "ff"
    # Through Keras' serialisation (JSON-style: the shape comes back a list).
    assert (
        keras.saving.get_registered_name(FastfoodProjection)
        == "keras_compacter>FastfoodProjection"
    )
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert isinstance(restored, FastfoodProjection)
    np.testing.assert_array_equal(to_np(restored(z)), to_np(layer(z)))
    other_seed = FastfoodProjection(output_shape=(5, 3), seed=18)
    assert not np.allclose(to_np(other_seed(z)), to_np(layer(z)))


def test_layer_built_in_a_trace_keeps_no_trace_values(rng):
    # Built and first called inside a compiled function, the layer must not
    # keep graph tensors / tracers, and must still work eagerly afterwards.
    z = rng.normal(size=(3,)).astype("float32")
    backend = keras.backend.backend()

    def make_and_call(z):
        layer = FastfoodProjection(output_shape=(2, 5), seed=1)
        holder.append(layer)
        return layer(z)

    holder = []
    if backend == "jax":
        import jax

        traced = jax.jit(make_and_call)(z)
    elif backend == "tensorflow":
        import tensorflow as tf

        traced = tf.function(make_and_call)(z)
    else:
        traced = make_and_call(z)
    expected = dense_fastfood(fastfood_parameters(10, 1), 3, 10) @ z
    assert_close(traced, expected.reshape(2, 5))
    assert_close(holder[0](z), expected.reshape(2, 5))


def test_layer_mixed_precision(mixed_bfloat16, rng):
    layer = FastfoodProjection(output_shape=(4, 4), seed=2)
    z = rng.normal(size=(5,)).astype("float32")
    out = layer(z)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    expected = dense_fastfood(fastfood_parameters(16, 2), 5, 16) @ z
    assert_close(out, expected.reshape(4, 4), tol=2e-2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"output_shape": (), "seed": 0}, "output_shape"),
        ({"output_shape": (3, 0), "seed": 0}, "output_shape"),
        ({"output_shape": (3, None), "seed": 0}, "output_shape"),
        ({"output_shape": "abc", "seed": 0}, "output_shape"),
        ({"output_shape": (3,), "seed": -1}, "seed"),
        ({"output_shape": (3,), "seed": 1.0}, "seed"),
    ],
)
def test_layer_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FastfoodProjection(**kwargs)


def test_layer_rejects_too_long_input():
    layer = FastfoodProjection(output_shape=(2, 3), seed=0)  # LL = 8
    with pytest.raises(ValueError, match="only takes up to padded_size=8"):
        layer(np.zeros(9, "float32"))
    with pytest.raises(ValueError, match="at least one axis"):
        FastfoodProjection(output_shape=(2, 3), seed=0)(np.float32(1.0))


def test_docstring_example():
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    test = doctest.DocTestParser().get_doctest(
        FastfoodProjection.__doc__,
        {"FastfoodProjection": FastfoodProjection},
        "FastfoodProjection",
        None,
        0,
    )
    assert test.examples
    result = runner.run(test)
    assert result.failed == 0
