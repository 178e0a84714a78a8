"""Shared fixtures of the layer tests: autodiff on every backend, dtype policy."""

import os
import sys

import keras
import numpy as np
import pytest

# The package is not necessarily installed: import it from the checkout.
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def _grad(fn, variables, inputs=()):
    """Gradients of the scalar `fn(*inputs)` w.r.t. Keras `variables` and `inputs`.

    `fn` may read the variables directly (through layers); on JAX they are
    substituted with traced values in a `keras.StatelessScope`. Returns
    `(variable_grads, input_grads)`, two lists of numpy arrays.
    """
    backend = keras.backend.backend()
    variables = list(variables)
    inputs = [np.asarray(x, dtype="float32") for x in inputs]
    if backend == "jax":
        import jax

        def pure(var_values, input_values):
            mapping = list(zip(variables, var_values))
            with keras.StatelessScope(state_mapping=mapping):
                return fn(*input_values)

        var_grads, input_grads = _jax_jit(jax.grad(pure, argnums=(0, 1)))(
            [v.value for v in variables], [jax.numpy.asarray(x) for x in inputs]
        )
    elif backend == "tensorflow":
        import tensorflow as tf

        xs = [tf.constant(x) for x in inputs]
        with tf.GradientTape() as tape:
            for x in xs:
                tape.watch(x)
            loss = fn(*xs)
        grads = tape.gradient(loss, [*variables, *xs])
        var_grads, input_grads = grads[: len(variables)], grads[len(variables) :]
    elif backend == "torch":
        import torch

        xs = [torch.tensor(x, requires_grad=True) for x in inputs]
        loss = fn(*xs)
        grads = torch.autograd.grad(
            loss, [v.value for v in variables] + xs, allow_unused=True
        )
        var_grads, input_grads = grads[: len(variables)], grads[len(variables) :]
    else:
        raise NotImplementedError(f"No autodiff helper for backend {backend}.")

    def to_np(g, like):
        # An unused input has no gradient (None) on TensorFlow and torch.
        if g is None:
            return np.zeros(tuple(like.shape), dtype="float32")
        return keras.ops.convert_to_numpy(g)

    return (
        [to_np(g, v) for g, v in zip(var_grads, variables)],
        [to_np(g, x) for g, x in zip(input_grads, inputs)],
    )


def _run(fn, *args):
    """`fn(*args)`, compiled as one program on JAX.

    Eager JAX compiles every op for every new shape; one `jax.jit` per test
    keeps the suite fast. Layers read their (concrete) variables as constants.
    """
    if keras.backend.backend() == "jax":
        return _jax_jit(fn)(*args)
    return fn(*args)


def _jax_jit(fn):
    """`jax.jit` with XLA's cheapest optimisation level: these small test
    programs run once, so compiling them dominates (on CPU, 2x faster)."""
    import jax

    return jax.jit(fn, compiler_options={"xla_backend_optimization_level": 0})


@pytest.fixture
def run():
    """The `_run(fn, *args)` helper (see its docstring)."""
    return _run


@pytest.fixture
def grad():
    """The `_grad(fn, variables, inputs=())` helper (see its docstring)."""
    return _grad


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def mixed_bfloat16():
    """Runs the test under the `mixed_bfloat16` policy, then restores float32."""
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


@pytest.fixture(autouse=True)
def _fast_jax_random():
    """On JAX, compiles the random initialisers with the non-partitionable
    threefry (3-4x faster to compile on CPU, different bits, same
    distributions); restored after each test.
    """
    if keras.backend.backend() != "jax":
        yield
        return
    import jax

    previous = jax.config.jax_threefry_partitionable
    jax.config.update("jax_threefry_partitionable", False)
    try:
        yield
    finally:
        jax.config.update("jax_threefry_partitionable", previous)
