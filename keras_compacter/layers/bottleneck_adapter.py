"""`BottleneckAdapter`: `A(x) = x + Up(act(Down(x)))`."""

import keras
from keras import ops

from keras_compacter.layers.initializers import adapter_dense_initializer
from keras_compacter.layers.low_rank_dense import LowRankDense
from keras_compacter.layers.phm_dense import PHMDense
from keras_compacter.layers.phm_rule import (
    config_with_shared_rule,
    serialize_shared_rule,
)

PROJECTIONS = ("dense", "phm", "low_rank")


def gelu_tanh(x):
    """GELU, tanh approximation (the adapters' activation in the paper)."""
    return ops.gelu(x, approximate=True)


@keras.saving.register_keras_serializable(package="keras_compacter")
class BottleneckAdapter(keras.layers.Layer):
    """A residual bottleneck: `x + Up(act(Down(x)))`.

    `Down` maps the hidden size `d` to `m` (`bottleneck_dim`, or
    `d // reduction_factor`), `Up` maps back; both carry a zero bias. The
    projections are dense (Houlsby/Pfeiffer adapters, weights N(0, 0.01)),
    PHM layers (PHM-Adapter; LPHM with a shared rule for Compacter) or
    low-rank (`adapter-lowrank`).

    Args:
        reduction_factor: int, `m = d // reduction_factor` when
            `bottleneck_dim` is not given. Defaults to 32.
        bottleneck_dim: int, `m`, overrides `reduction_factor`.
        projection: `"dense"`, `"phm"` or `"low_rank"`.
        phm_dim: `n` of the PHM projections.
        phm_rank: `None` (full-rank `B_i`) or `r` for LPHM projections.
        shared_rule: optional `SharedPHMRule` used by both PHM projections.
        low_rank: rank of the `"low_rank"` projections.
        activation: defaults to GELU (tanh approximation).

    Input shape:
        `(..., d)`.

    Output shape:
        `(..., d)`.

    Example:

    >>> adapter = BottleneckAdapter(bottleneck_dim=4, projection="phm", phm_dim=2)
    >>> adapter(keras.ops.ones((2, 5, 16))).shape
    (2, 5, 16)
    """

    def __init__(
        self,
        reduction_factor=32,
        bottleneck_dim=None,
        projection="dense",
        phm_dim=4,
        phm_rank=None,
        shared_rule=None,
        low_rank=1,
        activation=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if projection not in PROJECTIONS:
            raise ValueError(
                f"Unknown projection {projection!r}; valid: {', '.join(PROJECTIONS)}."
            )
        if bottleneck_dim is None and int(reduction_factor) < 1:
            raise ValueError(
                f"reduction_factor must be an integer >= 1, got {reduction_factor}."
            )
        if bottleneck_dim is not None and int(bottleneck_dim) < 1:
            raise ValueError(
                f"bottleneck_dim must be an integer >= 1, got {bottleneck_dim}."
            )
        if shared_rule is not None and projection != "phm":
            raise ValueError("shared_rule only applies to projection='phm'.")
        self.reduction_factor = int(reduction_factor)
        self.bottleneck_dim = None if bottleneck_dim is None else int(bottleneck_dim)
        self.projection = projection
        self.phm_dim = int(phm_dim)
        self.phm_rank = phm_rank
        self.shared_rule = shared_rule
        self.low_rank = int(low_rank)
        self.activation = (
            gelu_tanh if activation is None else keras.activations.get(activation)
        )
        self._activation_config = activation

    def resolve_bottleneck_dim(self, hidden_dim):
        """`m` for a hidden size `d`, with a clear error if it is not exact."""
        if self.bottleneck_dim is not None:
            return self.bottleneck_dim
        if hidden_dim % self.reduction_factor:
            raise ValueError(
                f"reduction_factor={self.reduction_factor} does not divide the "
                f"hidden size {hidden_dim}; pass a reduction_factor that divides "
                f"it or set bottleneck_dim explicitly."
            )
        return hidden_dim // self.reduction_factor

    def _projection(self, units, name):
        if self.projection == "dense":
            return keras.layers.Dense(
                units,
                kernel_initializer=adapter_dense_initializer(),
                bias_initializer="zeros",
                dtype=self.dtype_policy,
                name=name,
            )
        if self.projection == "low_rank":
            return LowRankDense(
                units, rank=self.low_rank, dtype=self.dtype_policy, name=name
            )
        return PHMDense(
            units,
            phm_dim=self.phm_dim,
            phm_rank=self.phm_rank,
            shared_rule=self.shared_rule,
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, input_shape):
        hidden_dim = input_shape[-1]
        bottleneck = self.resolve_bottleneck_dim(hidden_dim)
        self.down = self._projection(bottleneck, "down")
        self.up = self._projection(hidden_dim, "up")
        self.down.build(input_shape)
        self.up.build((*input_shape[:-1], bottleneck))

    def call(self, inputs):
        return inputs + self.up(self.activation(self.down(inputs)))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "reduction_factor": self.reduction_factor,
                "bottleneck_dim": self.bottleneck_dim,
                "projection": self.projection,
                "phm_dim": self.phm_dim,
                "phm_rank": self.phm_rank,
                "shared_rule": serialize_shared_rule(self.shared_rule),
                "low_rank": self.low_rank,
                "activation": self._activation_config,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config_with_shared_rule(config))
