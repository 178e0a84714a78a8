"""Export an adapted (or plain) KerasHub T5 model as a TensorFlow SavedModel.

`export_saved_model(model, path)` writes the model's forward pass, with the
injected method in it, to a standalone SavedModel: neither Keras, KerasHub
nor keras_compacter is needed to load and serve it. It runs on the
TensorFlow and JAX backends (on JAX, through `jax2tf`); on PyTorch use the
command line, `keras-compacter export`, which rebuilds the model in a
subprocess under a backend that can export.

The serving signature
---------------------

Inputs, all `int32`, batch and lengths dynamic unless fixed with
`max_source_length` / `max_target_length`:

- `encoder_token_ids`     `(batch, source_length)`
- `encoder_padding_mask`  `(batch, source_length)`, 1 for tokens, 0 for padding
- `decoder_token_ids`     `(batch, target_length)`
- `decoder_padding_mask`  `(batch, target_length)`

Output: the logits, `(batch, target_length, vocabulary_size)`, in the dtype
the Keras model returns them (`float32` for a `float32` model), under the
key `logits` in the `serving_default` signature. The `serve` endpoint
takes the four inputs as one dict and returns the logits tensor itself.

The encoder and decoder lengths are independent; a method that lengthens the
encoder sequence internally (prompt tuning prepends its vectors) does so
inside the graph, so callers pass their own tokens only.

Serving example
---------------

```python
import numpy as np
import tensorflow as tf

reloaded = tf.saved_model.load("exported_t5")
inputs = {
    "encoder_token_ids": np.array([[37, 423, 1]], "int32"),
    "encoder_padding_mask": np.array([[1, 1, 1]], "int32"),
    "decoder_token_ids": np.array([[0, 12]], "int32"),
    "decoder_padding_mask": np.array([[1, 1]], "int32"),
}
logits = reloaded.serve(inputs)  # (1, 2, vocabulary_size)
next_token = tf.argmax(logits[:, -1], axis=-1)
# Or the TF-Serving signature, with named inputs and outputs:
logits = reloaded.signatures["serving_default"](
    **{k: tf.constant(v) for k, v in inputs.items()}
)["logits"]
```

The artifact holds the forward pass only: generation (greedy or beam search)
calls it once per decoded token, feeding the tokens decoded so far as
`decoder_token_ids` (starting from T5's start token, id 0).
"""

import keras

__all__ = [
    "INPUT_NAMES",
    "ExportBackendError",
    "describe_signature",
    "export_saved_model",
    "input_signature",
    "polymorphic_shapes",
]

#: The serving inputs, in order.
INPUT_NAMES = (
    "encoder_token_ids",
    "encoder_padding_mask",
    "decoder_token_ids",
    "decoder_padding_mask",
)
#: The output key of the `serving_default` signature.
OUTPUT_NAME = "logits"
EXPORT_BACKENDS = ("tensorflow", "jax")


class ExportBackendError(RuntimeError):
    """Raised when the running Keras backend cannot write a SavedModel."""


def describe_signature(max_source_length=None, max_target_length=None):
    """The serving signature of `export_saved_model`'s artifact, as text."""
    source = "source_length" if max_source_length is None else max_source_length
    target = "target_length" if max_target_length is None else max_target_length
    shapes = {
        "encoder_token_ids": f"(batch, {source})",
        "encoder_padding_mask": f"(batch, {source})",
        "decoder_token_ids": f"(batch, {target})",
        "decoder_padding_mask": f"(batch, {target})",
    }
    lines = ["Inputs (int32; padding masks are 1 for tokens, 0 for padding):"]
    lines += [f"  {name:<22} {shapes[name]}" for name in INPUT_NAMES]
    lines.append(
        f"Output: {OUTPUT_NAME!r}, the (batch, {target}, vocabulary_size) logits"
    )
    lines.append(
        "Endpoints: serve(dict of the inputs) -> logits; "
        f"signatures['serving_default'](**inputs) -> {{{OUTPUT_NAME!r}: logits}}"
    )
    return "\n".join(lines)


def input_signature(max_source_length=None, max_target_length=None):
    """The `input_signature` given to Keras's export: one dict argument."""
    source = _length(max_source_length, "max_source_length")
    target = _length(max_target_length, "max_target_length")
    return [
        {
            name: keras.InputSpec(
                shape=(None, source if name.startswith("encoder") else target),
                dtype="int32",
                name=name,
            )
            for name in INPUT_NAMES
        }
    ]


def polymorphic_shapes(max_source_length=None, max_target_length=None):
    """`jax2tf` shapes tying each token ids input to its padding mask.

    Keras names every unknown dimension apart (`a`, `b`, ...), so `jax2tf`
    cannot prove that the encoder's tokens and its mask have the same length,
    and T5's attention fails on adding the position bias to the mask
    ("add got incompatible shapes for broadcasting"). Here the two encoder
    inputs share `source_length`, the two decoder inputs `target_length`,
    and all four the `batch`.
    """
    source = _length(max_source_length, "max_source_length") or "source_length"
    target = _length(max_target_length, "max_target_length") or "target_length"
    return [
        {
            name: f"(batch, {source if name.startswith('encoder') else target})"
            for name in INPUT_NAMES
        }
    ]


def export_saved_model(
    model,
    path,
    max_source_length=None,
    max_target_length=None,
    *,
    verbose=False,
    jax2tf_kwargs=None,
):
    """Export a KerasHub T5 model, with its injected method, as a SavedModel.

    See this module's documentation (or `describe_signature()`) for the
    serving signature and an example of serving the artifact.

    Args:
        model: a built `keras_hub.models.T5Seq2SeqLM`, plain or with any
            method injected.
        path: the directory to write the SavedModel to.
        max_source_length: `None` (any length) or the fixed encoder length
            of the signature: callers then pad to exactly this length, as
            KerasHub's preprocessor does to its `sequence_length`.
        max_target_length: the same for the decoder inputs.
        verbose: print Keras's summary of the endpoints.
        jax2tf_kwargs: JAX backend only: extra `jax2tf.convert` arguments,
            over the `polymorphic_shapes` of `polymorphic_shapes()`; e.g.
            `{"native_serialization_platforms": ("cpu", "cuda")}` for an
            artifact that serves on both (Keras's default is the platform
            JAX runs on when exporting).

    Returns:
        `path`.

    Raises:
        ExportBackendError: on a backend other than TensorFlow or JAX.
    """
    backend = keras.backend.backend()
    if backend not in EXPORT_BACKENDS:
        raise ExportBackendError(
            "Exporting a TensorFlow SavedModel needs the TensorFlow or JAX "
            f"Keras backend; this process runs Keras on {backend!r}, which "
            "cannot write one. Use the command line, `keras-compacter export` "
            "(see `keras-compacter export --help`): it rebuilds the model in a "
            "subprocess under a backend that can export. Or run this under "
            "KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax."
        )
    _check_model(model)
    signature = input_signature(max_source_length, max_target_length)
    options = {}
    if backend == "jax":
        converter = {
            "polymorphic_shapes": polymorphic_shapes(
                max_source_length, max_target_length
            )
        }
        converter.update(jax2tf_kwargs or {})
        options["jax2tf_kwargs"] = converter
    elif jax2tf_kwargs:
        raise ValueError(
            f"jax2tf_kwargs apply to the JAX backend only; this is {backend!r}."
        )

    import tensorflow as tf

    archive = keras.export.ExportArchive()
    serve = archive.track_and_add_endpoint("serve", model, signature, **options)
    specs = [
        {
            name: tf.TensorSpec(spec.shape, tf.int32, name=name)
            for name, spec in signature[0].items()
        }
    ]

    # TF Serving's signature, with the output named: a thin TensorFlow
    # wrapper around `serve` (converted once, not twice, on JAX).
    @tf.function(input_signature=specs, autograph=False)
    def serving_default(inputs):
        return {OUTPUT_NAME: serve(inputs)}

    serving_default.get_concrete_function()
    archive.add_endpoint("serving_default", serving_default)
    archive.write_out(str(path), verbose=verbose)
    return path


def _length(value, name):
    if value is None:
        return None
    if isinstance(value, bool) or int(value) != value or int(value) < 1:
        raise ValueError(f"{name} must be None or a positive int, got {value!r}.")
    return int(value)


def _check_model(model):
    from keras_hub.models import T5Seq2SeqLM

    from keras_compacter.models.t5.wiring import UnsupportedModelError

    if not isinstance(model, T5Seq2SeqLM):
        raise UnsupportedModelError(
            "export_saved_model exports a keras_hub.models.T5Seq2SeqLM (the "
            "logits need the LM head), got "
            f"{type(model).__module__}.{type(model).__name__}."
        )
    if not model.built:
        raise ValueError("Build the model (or load its weights) before exporting.")
    from keras_compacter.models.t5.wiring import adaptations

    state = adaptations(model)
    if state is not None and state.disabled:
        raise ValueError(
            "The method is switched off (inside keras_compacter.disabled()), so "
            "this would export the base model under the adapted model's name; "
            "export outside the `with disabled(...)` block, or export the base "
            "model itself."
        )
