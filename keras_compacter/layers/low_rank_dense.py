"""`LowRankDense`: a dense layer whose kernel is a rank-`r` product."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_compacter")
class LowRankDense(keras.layers.Layer):
    """`y = x U V + b` with `U`: `(k, rank)` and `V`: `(rank, units)`.

    The projections of the paper's `adapter-lowrank` baseline: each is a
    rank-`r` matrix `u v^T` (rank 1 by default), both factors
    Glorot-uniform, plus a zero-initialised bias.

    Args:
        units: int, output size.
        rank: int >= 1.
        use_bias: whether to add a bias.
        kernel_initializer: initializer of both factors (Glorot-uniform).
        bias_initializer: defaults to zeros.

    Input shape:
        `(..., k)`.

    Output shape:
        `(..., units)`.

    Example:

    >>> layer = LowRankDense(16, rank=1)
    >>> layer(keras.ops.ones((2, 8))).shape
    (2, 16)
    """

    def __init__(
        self,
        units,
        rank=1,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(rank) < 1:
            raise ValueError(f"rank must be an integer >= 1, got {rank}.")
        self.units = int(units)
        self.rank = int(rank)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        in_dim = input_shape[-1]
        self.input_dim = in_dim
        self.kernel_left = self.add_weight(
            name="kernel_left",
            shape=(in_dim, self.rank),
            initializer=self.kernel_initializer,
        )
        # A clone: an unseeded Keras initializer holds one fixed seed, so
        # reusing it would draw `V` from the same stream as `U` (`U = V^T`
        # when square).
        init = self.kernel_initializer
        if isinstance(init, keras.initializers.Initializer):
            init = init.__class__.from_config(init.get_config())
        self.kernel_right = self.add_weight(
            name="kernel_right",
            shape=(self.rank, self.units),
            initializer=init,
        )
        self.bias = (
            self.add_weight(
                name="bias", shape=(self.units,), initializer=self.bias_initializer
            )
            if self.use_bias
            else None
        )

    @property
    def kernel(self):
        """The rank-`r` kernel `U V`, shape `(k, units)`, materialised."""
        return ops.matmul(self.kernel_left, self.kernel_right)

    def call(self, inputs):
        y = ops.matmul(ops.matmul(inputs, self.kernel_left), self.kernel_right)
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
                "rank": self.rank,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
