"""Fastfood random projection used by Intrinsic-SAID.

Intrinsic-SAID (Aghajanyan et al., 2021) trains a small vector `z` of `d`
numbers and maps it onto each frozen weight `W` of `D` numbers through a fixed
random Fastfood transform (Le et al., 2013; as used by Li et al., 2018):

    W = W0 + P z,    P = H G Pi H B  (restricted and rescaled, see below)

Reference code checked (public copies of the authors' `intrinsic` module, which
follows Li et al.'s `fastfood_vars` / `fastfood_torched`):

* `anonymousxzy/compacter`, `seq2seq/projections/intrinsic.py` (the Compacter
  paper's copy of Aghajanyan's code, used by its `intrinsic_said` config),
* `r-three/t-few`, `src/models/intrinsic.py` (same `fastfood_vars` /
  `fastfood_torched` / `FastWalshHadamard`),
* `jgamper/intrinsic-dimensionality`, `intrinsic/utils/fastfood.py` (PyTorch
  port of Li et al.'s TensorFlow code).

What those files do, and what this module reproduces:

* `DD` is the number of elements of the target weight (`np.prod(shape)`) and
  `LL = 2 ** ceil(log(DD) / log(2))`, the next power of two `>= DD`. (The
  float formula over-rounds for `DD = 2**29` and `2**31`, giving twice the
  size; here the power of two is computed exactly with integers.)
* `BB` = iid random signs (+-1), `Pi` = `np.random.permutation(LL)`,
  `GG` = iid standard normal, all of length `LL`;
  `divisor = sqrt(LL * sum(GG ** 2))`.
* `x` (length `dd`) is zero-padded at the end to `LL`, then
  `mul_1 = BB * x`; `mul_2 = H(mul_1)`; `mul_3 = mul_2[Pi]` (a gather:
  `mul_3[i] = mul_2[Pi[i]]`); `mul_4 = mul_3 * GG`; `mul_5 = H(mul_4)`;
  `result = mul_5[:DD] / (divisor * sqrt(DD / LL))`.
* `H` is the *unnormalised* Walsh-Hadamard transform
  (`fast_walsh_hadamard_torched(..., normalize=False)`, entries +-1, natural
  (Sylvester) order: the butterfly `(a + b, a - b)` on each bit).

Deliberate differences from that code:

* The random parts come from `np.random.default_rng(seed)` (signs, then
  permutation, then Gaussian) instead of the global torch/numpy RNGs, so a
  seed gives the same projection on every backend. They are regenerated from
  the seed, never saved or trained.
* The first transform runs at the size `m` of `z`'s next power of two, not
  `LL`: `pad(z)` is zero past its first `m` entries and `H_LL = H_(LL/m) (x)
  H_m` (the first column of `H_(LL/m)` all ones), so `mul_2` is `LL / m`
  copies of `H_m(BB[:m] * pad_m(x))` and `mul_3 = mul_2[Pi]` reads it at
  `Pi mod m`. Same numbers up to float32 rounding, half the work, and only
  `BB[:m]`, `Pi mod m` (int16 when `m <= 2**15`) and `GG` are kept.
* Gradients are the exact gradients of the forward op, written out (a
  `keras.ops.custom_gradient`): the map is linear, so the gradient w.r.t. `z`
  is the transpose `BB[:d] * H_m(S(GG * H(pad(g))))`, `S` summing the
  entries that share a gather index, computed from `g` alone without keeping
  any intermediate of the forward pass. The Aghajanyan copies wrap `H` in a
  custom `FastWalshHadamard` autograd
  function whose backward returns `H(grad) / sqrt(LL)` although the forward is
  unnormalised, so their gradient w.r.t. `z` is the true gradient divided by
  `LL` (Li et al.'s port uses plain autograd, giving the true gradient, like
  this module).
* The reference silently crops `z` when `dd > LL` (negative padding); this
  module raises instead.
"""

import dataclasses
import math

import keras
import numpy as np
from keras import ops

__all__ = [
    "FastfoodParameters",
    "FastfoodProjection",
    "fast_walsh_hadamard",
    "fastfood_parameters",
    "fastfood_transform",
    "padded_size",
]


def _next_power_of_two(n):
    """Smallest power of two `>= n` (for `n >= 1`), exact integer math."""
    return 1 << (int(n) - 1).bit_length()


def padded_size(shape):
    """The Fastfood size `LL` of a tensor of `shape`: the next power of two
    `>=` its number of elements."""
    return _next_power_of_two(math.prod(shape))


def _is_power_of_two(n):
    return n >= 1 and (n & (n - 1)) == 0


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {value!r}")
    return int(value)


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer. Received: {seed!r}")
    return int(seed)


#: Bits per stage of the Walsh-Hadamard transform, by backend (the others:
#: `_DEFAULT_RADIX_BITS`). Measured on a 2-core x86 CPU (`benchmarks/`,
#: forward and gradient of one transform of 2**20 / 2**24 values):
#: JAX 24 / 2196 ms at 3 bits against 53 / 2928 ms at 6; torch 245 / 7100 ms
#: against 559 / 9656 ms; TensorFlow (no XLA) 128 / 10765 ms against
#: 56 / 2836 ms. Radix 8 does 4x fewer FLOPs than radix 64 in twice the
#: passes, which pays where each pass is one fused matmul.
_RADIX_BITS_BY_BACKEND = {"tensorflow": 6}
_DEFAULT_RADIX_BITS = 3


def _radix_bits():
    return _RADIX_BITS_BY_BACKEND.get(keras.config.backend(), _DEFAULT_RADIX_BITS)


def _hadamard(r):
    """The Sylvester-ordered r x r Hadamard matrix (numpy, float32)."""
    h = np.ones((1, 1), dtype=np.float32)
    while h.shape[0] < r:
        h = np.block([[h, h], [h, -h]])
    return h


def fast_walsh_hadamard(x):
    """Unnormalised fast Walsh-Hadamard transform over the last axis.

    Computes `x @ H_n` (`H_n` is symmetric) where `H_n` is the `n x n`
    Sylvester-ordered Hadamard matrix with entries +-1 (`H_1 = [[1]]`,
    `H_2n = [[H_n, H_n], [H_n, -H_n]]`), without normalisation, in
    `ceil(log2(n) / b)` radix-`2**b` stages, `b` = 3 (6 on TensorFlow)
    (`O(n log n)` operations, up to `2**b / (2 b)` times the radix-2
    count, in a handful of ops). Leading axes are
    batch axes.

    Args:
        x: Tensor of shape `(..., n)`, `n` a power of two known statically.

    Returns:
        Tensor of the same shape and dtype as `x`.
    """
    x = ops.convert_to_tensor(x)
    if len(x.shape) == 0:
        raise ValueError(
            "`fast_walsh_hadamard` expects a tensor with at least one axis; "
            "received a scalar."
        )
    n = x.shape[-1]
    if n is None:
        raise ValueError(
            "`fast_walsh_hadamard` needs the size of the last axis to be known "
            f"statically. Received shape: {x.shape}"
        )
    if not _is_power_of_two(n):
        raise ValueError(
            "`fast_walsh_hadamard` needs the last axis to have a power-of-two "
            f"length (1, 2, 4, ...). Received length {n} (shape {x.shape}); "
            "zero-pad it to the next power of two first."
        )
    if n == 1:
        return x
    if len(x.shape) == 1 or None not in x.shape:
        out_shape = tuple(x.shape)
    else:
        out_shape = ops.shape(x)
    # Radix-r stages: the stage with stride h views the axis as
    # (n / (r h), r, h) and multiplies the middle axis by the r x r Hadamard
    # matrix H_r. Since H_(ab) = H_a (x) H_b, stages covering all log2(n) bits
    # give H_n. Radix 2 would take log2(n) stages; grouping up to
    # a few bits a stage keeps the graph (and its gradient) a few ops
    # per transform, which matters with hundreds of transforms per step
    # (Intrinsic-SAID), at the price of r / (2 log r) times more flops.
    bits = n.bit_length() - 1
    stages = -(-bits // _radix_bits())
    h = 1
    for stage in range(stages):
        stage_bits = bits // stages + (1 if stage < bits % stages else 0)
        r = 1 << stage_bits
        hr = ops.convert_to_tensor(_hadamard(r), dtype=x.dtype)
        x = ops.matmul(hr, ops.reshape(x, (-1, n // (r * h), r, h)))
        h *= r
    return ops.reshape(x, out_shape)


@dataclasses.dataclass(frozen=True, eq=False)
class FastfoodParameters:
    """The fixed random parts of one Fastfood transform.

    Attributes:
        signs: float32 array of shape `(padded_size,)` with values +-1 (`B`).
        permutation: int32 array of shape `(padded_size,)`, a permutation of
            `range(padded_size)` (`Pi`, applied as a gather `x[permutation]`).
        gaussian: float32 array of shape `(padded_size,)`, iid N(0, 1) (`G`).
        divisor: `sqrt(padded_size * sum(gaussian ** 2))` as a Python float.
        padded_size: the next power of two `>= output_size` (`LL`).
    """

    signs: np.ndarray
    permutation: np.ndarray
    gaussian: np.ndarray
    divisor: float
    padded_size: int


def fastfood_parameters(output_size, seed):
    """Draws the random parts of a Fastfood transform with `output_size` outputs.

    The parts are drawn from `np.random.default_rng(seed)` in the order
    signs, permutation, Gaussian, so the same `(output_size, seed)` always gives
    the same parts, on every backend. The returned arrays are read-only.

    Args:
        output_size: positive int, number of elements `D` of the target tensor.
        seed: non-negative int.

    Returns:
        A `FastfoodParameters`.
    """
    output_size = _check_positive_int(output_size, "output_size")
    seed = _check_seed(seed)
    padded_size = _next_power_of_two(output_size)
    rng = np.random.default_rng(seed)
    signs = (rng.integers(0, 2, size=padded_size) * 2 - 1).astype("float32")
    permutation = rng.permutation(padded_size).astype("int32")
    gaussian = rng.standard_normal(padded_size).astype("float32")
    divisor = math.sqrt(
        padded_size * float(np.sum(np.square(gaussian, dtype="float64")))
    )
    for array in (signs, permutation, gaussian):
        array.flags.writeable = False
    return FastfoodParameters(
        signs=signs,
        permutation=permutation,
        gaussian=gaussian,
        divisor=divisor,
        padded_size=padded_size,
    )


def _output_scale(params, output_size):
    # result = mul_5[:D] / (divisor * sqrt(D / LL)).
    return 1.0 / (params.divisor * math.sqrt(output_size / params.padded_size))


def _float_dtype(dtype):
    """`dtype` if it is a float dtype, else `floatx()`."""
    dtype = keras.backend.standardize_dtype(dtype)
    return dtype if keras.backend.is_float_dtype(dtype) else keras.config.floatx()


def _compute_dtype(dtype):
    """Dtype the transform runs in: half precision is upcast to float32.

    The unnormalised Hadamard sums grow like sqrt(LL) * |x|, and the reference
    code also runs them in float32 (`input.float()`).
    """
    dtype = _float_dtype(dtype)
    return "float32" if dtype in ("float16", "bfloat16") else dtype


def _check_input_size(input_size, padded_size):
    if input_size is None:
        raise ValueError("The size of the last axis of `z` must be known statically.")
    if input_size < 1:
        raise ValueError(f"`z` must have at least one element; got size {input_size}.")
    if input_size > padded_size:
        raise ValueError(
            f"`z` has {input_size} elements on its last axis but the Fastfood "
            f"transform only takes up to padded_size={padded_size} "
            "inputs (the next power of two >= the output size). Use an "
            "intrinsic dimension no larger than that, or a larger target."
        )


def _input_block(input_size, padded_size):
    """`m`: the next power of two `>= input_size`, at most `padded_size`."""
    return min(_next_power_of_two(input_size), padded_size)


def _index_dtype(block):
    """int16 when the gather indices `[0, block)` fit, else int32.

    int16 makes the index a third of the transform's constants instead of
    half (SAID's d = 20,000 gives block = 2**15). TensorFlow's gather also
    requires the gathered axis to be no longer than the index type's maximum
    (`block <= 2**15 - 1`).
    """
    limit = 2**15 - 1 if keras.config.backend() == "tensorflow" else 2**15
    return "int16" if block <= limit else "int32"


@dataclasses.dataclass(frozen=True)
class _Constants:
    """The constant tensors of one transform, for inputs of one block size.

    `signs` is `B[:block]`, `index` is `permutation % block` (int16 or
    int32), `scaled_gaussian` is `G / (divisor * sqrt(D / LL))`.
    """

    signs: object
    index: object
    scaled_gaussian: object
    block: int


def _make_constants(params, input_size, output_size, dtype="float32"):
    block = _input_block(input_size, params.padded_size)
    scale = _output_scale(params, output_size)
    # `permutation % block`, exactly: `block` is a power of two.
    index = np.bitwise_and(params.permutation, block - 1).astype(_index_dtype(block))
    return _Constants(
        signs=ops.convert_to_tensor(params.signs[:block], dtype=dtype),
        index=ops.convert_to_tensor(index),
        scaled_gaussian=ops.convert_to_tensor(
            params.gaussian.astype("float64") * scale, dtype=dtype
        ),
        block=block,
    )


def _pad_last(x, size):
    if x.shape[-1] < size:
        pad = [[0, 0]] * (len(x.shape) - 1) + [[0, size - x.shape[-1]]]
        x = ops.pad(x, pad)
    return x


def _flatten_batch(x):
    """`x` as `(batch, n)` and a function restoring its leading axes."""
    batch_shape = tuple(x.shape[:-1])
    if None in batch_shape:
        batch_shape = tuple(ops.shape(x)[:-1])
    flat = ops.reshape(x, (-1, x.shape[-1]))
    return flat, lambda y: ops.reshape(y, batch_shape + (y.shape[-1],))


def _fastfood_forward(z, constants, padded_size, output_size):
    """`(H (scaled_gaussian * (H (signs * pad(z)))[permutation]))[..., :D]`.

    `pad(z)` is zero past the first `m = block` entries and `H_LL = H_(LL/m)
    (x) H_m` with an all-ones first column of `H_(LL/m)`, so `H_LL (B *
    pad(z))` is `LL / m` copies of `h = H_m (B[:m] * pad_m(z))`, and its
    gather by the permutation is `h[permutation % m]`: only the second
    transform runs at the full size `LL`.
    """
    h = fast_walsh_hadamard(_pad_last(z, constants.block) * constants.signs)
    mul_3 = ops.take(h, constants.index, axis=-1)
    mul_5 = fast_walsh_hadamard(mul_3 * constants.scaled_gaussian)
    if output_size < padded_size:
        mul_5 = mul_5[..., :output_size]
    return mul_5


def _fastfood_transpose(g, constants, padded_size, input_size):
    """The transpose of `_fastfood_forward`: `g` (..., D) to (..., d).

    `B[:d] * H_m (S (scaled_gaussian * H pad_LL(g)))` where `S` sums the
    entries sharing a gather index (the transpose of the gather by
    `permutation % m`).
    """
    v = fast_walsh_hadamard(_pad_last(g, padded_size)) * constants.scaled_gaussian
    if len(v.shape) == 1:
        u = ops.segment_sum(v, constants.index, num_segments=constants.block)
    else:
        flat, restore = _flatten_batch(v)
        u = ops.segment_sum(
            ops.transpose(flat), constants.index, num_segments=constants.block
        )
        u = restore(ops.transpose(u))
    u = fast_walsh_hadamard(u) * constants.signs
    if input_size < constants.block:
        u = u[..., :input_size]
    return u


def _apply_fastfood(z, constants, padded_size, output_size, scale=None):
    """`scale * F z` (`F` the restricted, rescaled transform), with its gradient.

    The gradient is written out rather than left to autodiff: `F` is linear,
    so `d/dz = scale * F^T g` and `d/dscale = <F^T g, z>`, computed from `z`,
    `scale` and the constants alone. Autodiff would keep (or, on TensorFlow,
    hold on to) the intermediates of every stage of both transforms until
    the backward pass, and the product `F z` for the gradient of `scale`.
    """
    input_size = z.shape[-1]

    def forward(z, *scale):
        result = _fastfood_forward(z, constants, padded_size, output_size)
        if scale:
            result = result * scale[0]

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            back = _fastfood_transpose(upstream, constants, padded_size, input_size)
            if not scale:
                return back
            return back * scale[0], ops.sum(back * z)

        return result, grad

    forward = ops.custom_gradient(forward)
    return forward(z) if scale is None else forward(z, scale)


def _check_params(params, output_size):
    if not isinstance(params, FastfoodParameters):
        raise TypeError(
            "`params` must be a `FastfoodParameters` (from `fastfood_parameters`). "
            f"Received: {type(params).__name__}"
        )
    output_size = _check_positive_int(output_size, "output_size")
    if params.padded_size != _next_power_of_two(output_size):
        raise ValueError(
            f"`params` were drawn for padded_size={params.padded_size}, which "
            f"does not match output_size={output_size} (expected padded_size="
            f"{_next_power_of_two(output_size)}). Draw them with "
            "`fastfood_parameters(output_size, seed)`."
        )
    return output_size


def fastfood_transform(z, params, output_size):
    """Fastfood projection of `z` to `output_size` numbers.

    Computes `(H G Pi H B pad(z))[:D] / (divisor * sqrt(D / LL))` with `H` the
    unnormalised Walsh-Hadamard transform, as in the Intrinsic-SAID reference
    code. Differentiable with respect to `z`. Leading axes of `z`, if any, are
    batch axes.

    Args:
        z: tensor of shape `(..., d)` with `1 <= d <= params.padded_size`;
            zero-padded to `params.padded_size`.
        params: `FastfoodParameters` from `fastfood_parameters(output_size, s)`.
        output_size: int `D`, the number of outputs.

    Returns:
        Tensor of shape `(..., output_size)` (1-D for a 1-D `z`), in the dtype
        of `z` (float16/bfloat16 inputs are computed in float32 and cast back;
        integer inputs are cast to `floatx`).
    """
    output_size = _check_params(params, output_size)
    z = ops.convert_to_tensor(z)
    if len(z.shape) == 0:
        raise ValueError("`z` must have at least one axis; received a scalar.")
    _check_input_size(z.shape[-1], params.padded_size)
    out_dtype = _float_dtype(z.dtype)
    dtype = _compute_dtype(z.dtype)
    constants = _make_constants(params, z.shape[-1], output_size, dtype=dtype)
    result = _apply_fastfood(
        ops.cast(z, dtype), constants, params.padded_size, output_size
    )
    return ops.cast(result, out_dtype)


def _makes_concrete_tensors():
    """Whether tensors created here are concrete (safe to cache and reuse).

    False inside a trace: a `tf.function`/Keras symbolic graph (graph tensors),
    a `jax.jit`/`eval_shape` trace (tracers), or the torch backend's "meta"
    device shape inference. A tensor made there must not outlive the trace.
    """
    probe = ops.convert_to_tensor(np.zeros((), dtype="float32"))
    try:
        ops.convert_to_numpy(probe)
    except Exception:
        return False
    return True


@keras.saving.register_keras_serializable(package="keras_compacter")
class FastfoodProjection(keras.layers.Layer):
    """Fixed random Fastfood projection of a vector onto a tensor's shape.

    Computes `reshape(fastfood_transform(z, fastfood_parameters(D, seed), D),
    output_shape)` with `D = prod(output_shape)`: the Intrinsic-SAID map
    `P z` from a `d`-dimensional intrinsic vector to the update of a weight of
    shape `output_shape`. `P = H G Pi H B` (restricted to `d` inputs and `D`
    outputs, scaled by `1 / (sqrt(LL * sum(G ** 2)) * sqrt(D / LL))`), where
    `H` is the unnormalised Walsh-Hadamard transform of size `LL`, the next
    power of two `>= D`. Called with a `scale`, it returns `scale * P z`
    (with the gradient of `scale` computed without keeping `P z`).

    The layer has no weights: the random signs `B`, permutation `Pi` and
    Gaussian `G` are regenerated from `seed` (identically on every backend),
    held as constant tensors, and never trained or saved. Only what a
    `d`-sized input needs is held: `B[:m]`, `Pi mod m` (int16 for
    `m <= 2**15`) and the scaled `G`, with `m` the next power of two `>= d`.

    Args:
        output_shape: tuple of positive ints, the shape of the projected
            tensor (usually the shape of the weight it updates).
        seed: non-negative int, the seed of the random parts.
        input_size: optional int, the size `d` of the inputs the layer will
            get. When given, the constant tensors are made at construction
            (outside any trace, where the layer is normally created), so a
            compiled function captures them instead of copying them into
            its program. Inputs of other sizes still work.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        Tensor with shape `(..., d)`, usually 1-D `(d,)`, with
        `1 <= d <= LL`. Leading axes are batch axes. `call(z, scale=None)`
        also takes an optional scalar `scale`.

    Output shape:
        Tensor with shape `(...,) + output_shape`; `output_shape` for a 1-D
        input.

    Example:

    >>> import numpy as np
    >>> layer = FastfoodProjection(output_shape=(4, 3), seed=0)
    >>> z = np.array([0.5, -1.0], dtype="float32")
    >>> delta = layer(z)
    >>> tuple(delta.shape)
    (4, 3)
    >>> len(layer.weights)
    0
    """

    def __init__(self, output_shape, seed, input_size=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(output_shape, (int, np.integer)) and not isinstance(
            output_shape, bool
        ):
            output_shape = (output_shape,)
        if not isinstance(output_shape, (tuple, list)) or not output_shape:
            raise ValueError(
                "`output_shape` must be a non-empty tuple of positive integers. "
                f"Received: output_shape={output_shape!r}"
            )
        for dim in output_shape:
            if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
                dim = 0
            if dim < 1:
                raise ValueError(
                    "`output_shape` must be a non-empty tuple of positive "
                    f"integers. Received: output_shape={output_shape!r}"
                )
        self._target_shape = tuple(int(dim) for dim in output_shape)
        self.seed = _check_seed(seed)
        self.output_size = math.prod(self._target_shape)
        self.padded_size = _next_power_of_two(self.output_size)
        if input_size is not None:
            input_size = _check_positive_int(input_size, "input_size")
            _check_input_size(input_size, self.padded_size)
        self.input_size = input_size
        # Not `_parameters`/`parameters`: the torch backend's layers are
        # `torch.nn.Module`s, which use those names.
        self._host_parts = None
        # Concrete constant tensors, by input block size `m`.
        self._constants = {}
        # Make the constant tensors here, where the layer is normally created
        # eagerly: `build()` may run inside a trace (e.g. Keras' symbolic build
        # in `fit()`), and a tensor made there cannot be kept. Cached concrete
        # tensors are captured by reference by `tf.function` (instead of being
        # copied into the graph) and not re-uploaded per call in torch eager.
        if input_size is not None and _makes_concrete_tensors():
            self._get_constants(input_size)

    @property
    def output_shape(self):
        """The shape of the projected tensor (the layer's `output_shape`)."""
        return self._target_shape

    def get_fastfood_parameters(self):
        """The layer's `FastfoodParameters` (redrawn from `seed` if released)."""
        if self._host_parts is None:
            return fastfood_parameters(self.output_size, self.seed)
        return self._host_parts

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if not input_shape:
            raise ValueError(
                f"`{self.__class__.__name__}` expects an input with at least one "
                "axis, e.g. shape (d,); received a scalar."
            )
        _check_input_size(input_shape[-1], self.padded_size)
        self.built = True

    def _get_constants(self, input_size):
        """float32 constant tensors for `d = input_size`, cached when concrete.

        Inside a trace (where the tensors would be graph values or tracers)
        they are made for that trace only, from a cached host copy.
        """
        block = _input_block(input_size, self.padded_size)
        if block in self._constants:
            return self._constants[block]
        concrete = _makes_concrete_tensors()
        params = self.get_fastfood_parameters()
        constants = _make_constants(params, block, self.output_size)
        if concrete:
            self._constants[block] = constants
            # The host copy is no longer needed (it can be redrawn from seed).
            self._host_parts = None
        else:
            # Keep the host copy so the parts are drawn only once.
            self._host_parts = params
        return constants

    def call(self, z, scale=None):
        z = ops.convert_to_tensor(z)
        out_dtype = _float_dtype(self.compute_dtype)
        dtype = _compute_dtype(z.dtype)
        constants = self._get_constants(z.shape[-1])
        if dtype != "float32":
            constants = dataclasses.replace(
                constants,
                signs=ops.cast(constants.signs, dtype),
                scaled_gaussian=ops.cast(constants.scaled_gaussian, dtype),
            )
        if scale is not None:
            scale = ops.cast(scale, dtype)
            if len(scale.shape) != 0:
                raise ValueError(
                    f"`scale` must be a scalar; received shape {scale.shape}."
                )
        result = _apply_fastfood(
            ops.cast(z, dtype),
            constants,
            self.padded_size,
            self.output_size,
            scale=scale,
        )
        batch_shape = tuple(z.shape[:-1])
        if None in batch_shape:
            batch_shape = tuple(ops.shape(z)[:-1])
        result = ops.reshape(result, batch_shape + self._target_shape)
        return ops.cast(result, out_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + self._target_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "output_shape": self._target_shape,
                "seed": self.seed,
                "input_size": self.input_size,
            }
        )
        return config
