"""`PromptEmbedding`: trainable vectors prepended along the sequence axis."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_compacter")
class PromptEmbedding(keras.layers.Layer):
    """Prepends `length` trainable vectors to a sequence and extends its mask.

    The soft prompt of prompt tuning (Lester et al. 2021): the vectors go in
    front of the encoder's input embeddings, and the padding mask gains as
    many ones, so that attention (and cross-attention) sees them like any
    other position.

    Args:
        length: int, the number of prompt vectors (100 in the paper).
        initializer: defaults to uniform(-0.5, 0.5), the paper's.

    Call arguments:
        inputs: `(batch, seq, d)` embeddings.
        padding_mask: optional `(batch, seq)` mask (any dtype).

    Output shape:
        `(batch, length + seq, d)`, and the extended mask
        `(batch, length + seq)` when `padding_mask` is given.

    Example:

    >>> prompt = PromptEmbedding(3)
    >>> x, mask = prompt(keras.ops.ones((2, 5, 8)), keras.ops.ones((2, 5)))
    >>> x.shape, mask.shape
    ((2, 8, 8), (2, 8))
    """

    def __init__(self, length, initializer=None, **kwargs):
        super().__init__(**kwargs)
        if int(length) < 1:
            raise ValueError(f"The prompt length must be >= 1, got {length}.")
        self.length = int(length)
        self.initializer = keras.initializers.get(
            initializer or keras.initializers.RandomUniform(-0.5, 0.5)
        )

    def build(self, inputs_shape, padding_mask_shape=None):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.length, inputs_shape[-1]),
            initializer=self.initializer,
        )

    def extend_mask(self, padding_mask):
        """`padding_mask` with `length` ones in front, same dtype."""
        batch = ops.shape(padding_mask)[0]
        ones = ops.ones((batch, self.length), dtype=padding_mask.dtype)
        return ops.concatenate([ones, padding_mask], axis=1)

    def call(self, inputs, padding_mask=None):
        batch = ops.shape(inputs)[0]
        prompts = ops.cast(self.embeddings, inputs.dtype)
        prompts = ops.broadcast_to(
            prompts[None], (batch, self.length, ops.shape(inputs)[-1])
        )
        outputs = ops.concatenate([prompts, inputs], axis=1)
        if padding_mask is None:
            return outputs
        return outputs, self.extend_mask(padding_mask)

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
        seq = None if inputs_shape[1] is None else inputs_shape[1] + self.length
        out = (inputs_shape[0], seq, inputs_shape[-1])
        if padding_mask_shape is None:
            return out
        return out, (inputs_shape[0], seq)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "length": self.length,
                "initializer": keras.initializers.serialize(self.initializer),
            }
        )
        return config
