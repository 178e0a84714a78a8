"""`BiasAdd`: a trainable bias on the last axis."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_compacter")
class BiasAdd(keras.layers.Layer):
    """`y = x + b`, `b` of shape `(units,)`, zero-initialised.

    BitFit's bias for layers that have none (T5's layer norms, the LM head's
    logits).

    Args:
        units: size of the last axis.
        initializer: defaults to zeros.

    Input shape:
        `(..., units)`.

    Output shape:
        `(..., units)`.

    Example:

    >>> BiasAdd(4)(keras.ops.ones((2, 4))).shape
    (2, 4)
    """

    def __init__(self, units, initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.initializer = keras.initializers.get(initializer)
        self.bias = self.add_weight(
            name="bias", shape=(self.units,), initializer=self.initializer
        )
        self.built = True

    def call(self, inputs):
        return ops.add(inputs, ops.cast(self.bias, inputs.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "initializer": keras.initializers.serialize(self.initializer),
            }
        )
        return config
