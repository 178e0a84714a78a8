"""`PHMDense`: a dense layer whose kernel is a sum of Kronecker products."""

import keras
from keras import ops

from keras_compacter.layers.initializers import (
    BlockGlorotUniform,
    own_rule_initializer,
)
from keras_compacter.layers.phm_rule import (
    SharedPHMRule,
    config_with_shared_rule,
    serialize_shared_rule,
)


@keras.saving.register_keras_serializable(package="keras_compacter")
class PHMDense(keras.layers.Layer):
    """PHM layer: `y = x W + b` with `W = sum_i A_i (x) B_i` (Kronecker products).

    `W` has shape `(k, units)`; each `A_i` is `(n, n)` and each `B_i` is
    `(k/n, units/n)`, so the layer holds `n^3 + k * units / n` weights instead
    of `k * units`. With `phm_rank=r`, `B_i = s_i t_i^T` is low-rank
    (`s_i`: `(k/n, r)`, `t_i`: `(r, units/n)`): the LPHM layer of Compacter.

    `call` picks the cheaper of two evaluations, by counting FLOPs for the
    call's number of rows `t` (the product of the leading dimensions):

    * factored (`call_factored`): the input is viewed as `(..., n, k/n)` and
      contracted with the factors, never building `W`:
      `t * 2n^2 k + t * 2k units` for full-rank `B_i`,
      `t * 2rn(k + n^2 + units)` for rank `r`;
    * materialised (`call_materialised`): `x @ W + b`, building `W` once per
      call: `t * 2k units + 2n k units` (plus `2k units r / n` for `s t^T`).

    Low-rank layers with few rows (Compacter's adapters) stay factored;
    full-rank layers at a training step's row count (PHM-Adapter, n=12)
    materialise, since the factored contraction over the rule costs
    `n^2 / units` times the product itself. When `t` is not known when the
    call is traced, the per-row costs decide (many rows assumed). Both
    evaluations are exact; they differ only in rounding.
    `kernel` builds `W` on demand.

    Args:
        units: int, output size.
        phm_dim: int, `n`; must divide both the input size and `units`.
        phm_rank: `None` for full-rank `B_i`, or an int `r >= 1` for
            `B_i = s_i t_i^T`.
        shared_rule: optional `SharedPHMRule` whose `A_i` this layer uses
            instead of owning its own.
        use_bias: whether to add a bias (initialised to zero).
        phm_rule_initializer: initializer of an own rule. Defaults to
            N(0, 0.01), the paper's.
        kernel_initializer: initializer of `B_i` (or of `s_i`, `t_i`).
            Defaults to Glorot-uniform per `B_i`, as the paper's code.
        bias_initializer: defaults to zeros.

    Input shape:
        `(..., k)`, any number of leading dimensions.

    Output shape:
        `(..., units)`.

    Example:

    >>> layer = PHMDense(16, phm_dim=4)
    >>> layer(keras.ops.ones((2, 3, 8))).shape
    (2, 3, 16)
    >>> tuple(layer.kernel.shape)
    (8, 16)
    """

    def __init__(
        self,
        units,
        phm_dim,
        phm_rank=None,
        shared_rule=None,
        use_bias=True,
        phm_rule_initializer=None,
        kernel_initializer=None,
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = int(units)
        self.phm_dim = int(phm_dim)
        if self.phm_dim < 1:
            raise ValueError(f"phm_dim must be a positive integer, got {phm_dim}.")
        if phm_rank is not None and int(phm_rank) < 1:
            raise ValueError(
                f"phm_rank must be None (full rank) or an integer >= 1, got {phm_rank}."
            )
        self.phm_rank = None if phm_rank is None else int(phm_rank)
        if shared_rule is not None:
            if not isinstance(shared_rule, SharedPHMRule):
                raise TypeError(
                    "shared_rule must be a keras_compacter.layers.SharedPHMRule, "
                    f"got {type(shared_rule).__name__}."
                )
            if shared_rule.phm_dim != self.phm_dim:
                raise ValueError(
                    f"The shared rule has phm_dim={shared_rule.phm_dim} but this "
                    f"layer has phm_dim={self.phm_dim}; use a SharedPHMRule("
                    f"{self.phm_dim}) or set phm_dim={shared_rule.phm_dim}."
                )
        self.shared_rule = shared_rule
        self.use_bias = use_bias
        self.phm_rule_initializer = keras.initializers.get(
            phm_rule_initializer or own_rule_initializer()
        )
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or BlockGlorotUniform()
        )
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.input_spec = keras.layers.InputSpec(min_ndim=1)

    def build(self, input_shape):
        in_dim = input_shape[-1]
        n, units = self.phm_dim, self.units
        if in_dim is None:
            raise ValueError("PHMDense needs a known last input dimension.")
        bad = [
            f"{name}={size}"
            for name, size in (("input size", in_dim), ("units", units))
            if size % n
        ]
        if bad:
            raise ValueError(
                f"phm_dim={n} must divide both the input size ({in_dim}) and "
                f"units ({units}), but it does not divide {' and '.join(bad)}. "
                f"Choose a phm_dim that divides both (a common divisor of "
                f"{in_dim} and {units})."
            )
        self.input_dim = in_dim
        self.input_spec = keras.layers.InputSpec(min_ndim=1, axes={-1: in_dim})
        p, q = in_dim // n, units // n
        if self.shared_rule is None:
            self._own_rule = self.add_weight(
                name="phm_rule",
                shape=(n, n, n),
                initializer=self.phm_rule_initializer,
            )
        if self.phm_rank is None:
            self.phm_kernel_full = self.add_weight(
                name="phm_kernel", shape=(n, p, q), initializer=self.kernel_initializer
            )
        else:
            r = self.phm_rank
            self.phm_kernel_left = self.add_weight(
                name="phm_kernel_left",
                shape=(n, p, r),
                initializer=self.kernel_initializer,
            )
            # A clone: an unseeded Keras initializer holds one fixed seed, so
            # reusing it would draw `t` from the same stream as `s`.
            init = self.kernel_initializer
            if isinstance(init, keras.initializers.Initializer):
                init = init.__class__.from_config(init.get_config())
            self.phm_kernel_right = self.add_weight(
                name="phm_kernel_right",
                shape=(n, r, q),
                initializer=init,
            )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(units,), initializer=self.bias_initializer
            )
        else:
            self.bias = None

    @property
    def phm_rule(self):
        """The `A_i`, shape `(n, n, n)` (the shared rule's when shared)."""
        if self.shared_rule is not None:
            return self.shared_rule.rule
        return self._own_rule

    @property
    def phm_kernel(self):
        """The `B_i`, shape `(n, k/n, units/n)`; built from `s t^T` if low-rank."""
        if self.phm_rank is None:
            return self.phm_kernel_full
        return ops.matmul(self.phm_kernel_left, self.phm_kernel_right)

    @property
    def kernel(self):
        """`W = sum_i A_i (x) B_i`, shape `(k, units)`, materialised."""
        w = ops.einsum("iab,ipq->apbq", self.phm_rule, self.phm_kernel)
        return ops.reshape(w, (self.input_dim, self.units))

    def _rows(self, inputs):
        """Number of rows `t` of the call, or None if not static."""
        rows = 1
        for dim in inputs.shape[:-1]:
            # None, or a symbolic dimension (jax2tf's shape polymorphism when
            # exporting): not known when the call is traced.
            if not isinstance(dim, int):
                return None
            rows *= dim
        return rows

    def uses_factored_call(self, rows):
        """Whether `call` on `rows` rows evaluates factored (fewer FLOPs).

        `rows=None` (unknown when traced) compares the per-row costs only.
        """
        n, k, units = self.phm_dim, self.input_dim, self.units
        if self.phm_rank is None:
            factored_per_row = 2 * n * n * k + 2 * k * units
            build = 2 * n * k * units
        else:
            r = self.phm_rank
            factored_per_row = 2 * r * n * (k + n * n + units)
            build = 2 * n * k * units + 2 * k * units * r // n
        dense_per_row = 2 * k * units
        if rows is None:
            return factored_per_row < dense_per_row
        return rows * factored_per_row <= rows * dense_per_row + build

    def call(self, inputs):
        if self.uses_factored_call(self._rows(inputs)):
            return self.call_factored(inputs)
        return self.call_materialised(inputs)

    def call_materialised(self, inputs):
        """`inputs @ kernel + bias`, building `W` first."""
        y = ops.matmul(inputs, ops.cast(self.kernel, inputs.dtype))
        if self.bias is not None:
            y = ops.add(y, self.bias)
        return y

    def call_factored(self, inputs):
        """The layer's output from the factors, without building `W`."""
        n, k, units = self.phm_dim, self.input_dim, self.units
        p, q = k // n, units // n
        rule = self.phm_rule
        lead = ops.shape(inputs)[:-1]
        x = ops.reshape(inputs, (-1, n, p))  # x[t, a, p]
        if self.phm_rank is None:
            # u[t, b, i, p] = sum_a x[t, a, p] A[i, a, b]
            u = ops.einsum("tap,iab->tbip", x, rule)
            kernel = ops.reshape(self.phm_kernel_full, (n * p, q))
            y = ops.matmul(ops.reshape(u, (-1, n, n * p)), kernel)
        else:
            r = self.phm_rank
            # v[t, a, i, r] = sum_p x[t, a, p] s[i, p, r]: one matmul.
            left = ops.reshape(
                ops.transpose(self.phm_kernel_left, (1, 0, 2)), (p, n * r)
            )
            v = ops.reshape(ops.matmul(x, left), (-1, n, n, r))
            # w[t, b, i, r] = sum_a A[i, a, b] v[t, a, i, r]
            w = ops.einsum("tair,iab->tbir", v, rule)
            right = ops.reshape(self.phm_kernel_right, (n * r, q))
            y = ops.matmul(ops.reshape(w, (-1, n, n * r)), right)
        y = ops.reshape(y, (*lead, units))
        if self.bias is not None:
            y = ops.add(y, self.bias)
        return y

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "phm_dim": self.phm_dim,
                "phm_rank": self.phm_rank,
                "shared_rule": serialize_shared_rule(self.shared_rule),
                "use_bias": self.use_bias,
                "phm_rule_initializer": keras.initializers.serialize(
                    self.phm_rule_initializer
                ),
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config_with_shared_rule(config))
