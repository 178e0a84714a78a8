"""Initialisers of the Compacter paper's layers."""

import math

import keras


@keras.saving.register_keras_serializable(package="keras_compacter")
class BlockGlorotUniform(keras.initializers.Initializer):
    """Glorot-uniform over the last two axes, each leading slice on its own.

    The paper's code initialises every `B_i` (and every low-rank factor
    `s_i`, `t_i`) of a PHM layer as its own matrix, so the fans are those of
    one `(rows, cols)` slice, not of the whole stacked tensor as
    `keras.initializers.GlorotUniform` would compute them.

    Args:
        seed: Optional int seed.

    Example:

    >>> init = BlockGlorotUniform(seed=0)
    >>> init((4, 192, 6)).shape
    (4, 192, 6)
    """

    def __init__(self, seed=None):
        self.seed = seed
        self._uniform = keras.initializers.RandomUniform(seed=seed)

    def __call__(self, shape, dtype=None):
        if len(shape) < 2:
            raise ValueError(
                f"BlockGlorotUniform needs a shape of rank >= 2, got {shape}."
            )
        limit = math.sqrt(6.0 / (shape[-2] + shape[-1]))
        self._uniform.minval = -limit
        self._uniform.maxval = limit
        return self._uniform(shape, dtype=dtype)

    def get_config(self):
        return {"seed": self.seed}


def own_rule_initializer(seed=None):
    """N(0, 0.01): the `A_i` of a PHM layer that does not share them."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.01, seed=seed)


def shared_rule_initializer(seed=None):
    """N(0, 1e-4): the `A_i` shared by many PHM layers (Compacter)."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=1e-4, seed=seed)


def adapter_dense_initializer(seed=None):
    """N(0, 0.01): the dense projections of Houlsby/Pfeiffer adapters."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.01, seed=seed)
