"""Standard T5 architectures, built randomly initialised without a download.

KerasHub ships the T5 presets as Kaggle handles only; their configs live on
Kaggle, and the preset metadata in `keras_hub/src/models/t5/t5_presets.py`
only records a parameter count. The configs below are the original T5
(v1.0), T5.1.1 and FLAN-T5 configurations (Raffel et al., 2020; the T5.1.1
and FLAN-T5 checkpoint configs), expressed as `keras_hub.models.T5Backbone`
arguments the way KerasNLP's former inline preset configs and KerasHub's
conversion script (`tools/checkpoint_conversion/convert_t5_checkpoints.py`)
write them.

Parameter counts (`count_params()` of the built backbone) against the
`params` of KerasHub's preset metadata (keras-hub 0.32):

| arch              | this module | KerasHub metadata |
|-------------------|-------------|-------------------|
| t5_small_multi    |  60,506,624 |  60,506,624       |
| t5_base_multi     | 222,903,552 | 222,903,552       |
| t5_large_multi    | 737,668,096 | 737,668,096       |
| t5_1.1_small      |  76,961,152 |  60,511,616  (!)  |
| t5_1.1_base       | 247,577,856 | 247,577,856       |
| t5_1.1_large      | 783,150,080 | 750,251,008  (!)  |
| flan_small_multi  |  76,961,152 |  76,961,152       |
| flan_base_multi   | 247,577,856 | 247,577,856       |
| flan_large_multi  | 783,150,080 | 783,150,080       |

(!) The metadata of `t5_1.1_small` and `t5_1.1_large` is inconsistent with
the T5.1.1 architecture. T5.1.1 has the same architecture as FLAN-T5 (FLAN-T5
is T5.1.1 (LM-adapted) fine-tuned on instructions), yet those two entries
differ from the matching FLAN entries, and from the count the architecture
implies, by exactly one `vocabulary_size * hidden_dim` matrix:
76,961,152 - 60,511,616 = 16,449,536 = 32128 * 512 and
783,150,080 - 750,251,008 = 32,899,072 = 32128 * 1024. In other words they
were counted with a tied output head, whereas T5.1.1 unties it (HF
`tie_word_embeddings=False`, and KerasHub's own conversion script sets
`tie_embedding_weights=False` for every T5.1.1 size). The other T5.1.1
entries are counted untied (`t5_1.1_base` 247,577,856, `t5_1.1_xl`
2,849,757,184, `t5_1.1_xxl` 11,135,332,352 all match the untied formula), so
we keep the untied head and treat the two entries as metadata errors.

Activation: T5.1.1 and FLAN-T5 use a gated GELU with the tanh approximation
(Mesh TensorFlow `gelu`, HF `gelu_new`). KerasNLP's FLAN preset configs
named it `keras_nlp>gelu_approximate` (KerasHub registers the same function
as `keras_hub>gelu_approximate`); KerasHub's T5.1.1 conversion script writes
the exact `"gelu"` instead. We use the tanh approximation for both families, which is
the function the checkpoints were trained with; it has no parameters, so the
counts above are unaffected.
"""

import contextlib
import inspect

import keras
import keras_hub

__all__ = ["ARCHITECTURES", "t5_backbone"]

_VOCABULARY_SIZE = 32128  # 32000 SentencePiece pieces + 100 sentinels, padded.


def _gelu_approximate():
    """Return KerasHub's registered tanh-approximated GELU.

    Using the function KerasHub registers (rather than one of our own) keeps
    a saved preset loadable with plain `keras_hub`, without this library.
    """
    fn = keras.saving.get_registered_object("keras_hub>gelu_approximate")
    if fn is None:  # pragma: no cover - depends on the KerasHub version.
        raise RuntimeError(
            "KerasHub no longer registers `keras_hub>gelu_approximate`, "
            "which the T5.1.1 and FLAN-T5 architectures need."
        )
    return fn


def _t5_v1_0(hidden_dim, intermediate_dim, num_layers, num_heads):
    # Original T5: ReLU, ungated feed-forward, output head tied to the token
    # embedding. `key_value_dim=None` means `hidden_dim // num_heads`, which
    # is 64 for every standard size; leaving it derived lets tests shrink
    # the model by overriding `hidden_dim`/`num_heads` alone.
    return {
        "vocabulary_size": _VOCABULARY_SIZE,
        "num_layers": num_layers,
        "num_heads": num_heads,
        "hidden_dim": hidden_dim,
        "intermediate_dim": intermediate_dim,
        "key_value_dim": None,
        "dropout": 0.1,
        "activation": "relu",
        "use_gated_activation": False,
        "layer_norm_epsilon": 1e-6,
        "tie_embedding_weights": True,
    }


def _t5_v1_1(hidden_dim, intermediate_dim, num_layers, num_heads):
    # T5.1.1 / FLAN-T5: gated GELU, untied output head, and 64-dimensional
    # heads set explicitly (the small size has 6 heads of 64 on a 512 model,
    # so `hidden_dim // num_heads` would be wrong).
    return {
        "vocabulary_size": _VOCABULARY_SIZE,
        "num_layers": num_layers,
        "num_heads": num_heads,
        "hidden_dim": hidden_dim,
        "intermediate_dim": intermediate_dim,
        "key_value_dim": 64,
        "dropout": 0.1,
        "activation": _gelu_approximate(),
        "use_gated_activation": True,
        "layer_norm_epsilon": 1e-6,
        "tie_embedding_weights": False,
    }


#: Name -> `keras_hub.models.T5Backbone` keyword arguments. The names are
#: those of KerasHub's T5 presets. Treat the dicts as read-only;
#: `t5_backbone()` copies them before applying overrides.
ARCHITECTURES = {
    "t5_small_multi": _t5_v1_0(512, 2048, num_layers=6, num_heads=8),
    "t5_base_multi": _t5_v1_0(768, 3072, num_layers=12, num_heads=12),
    "t5_large_multi": _t5_v1_0(1024, 4096, num_layers=24, num_heads=16),
    "t5_1.1_small": _t5_v1_1(512, 1024, num_layers=8, num_heads=6),
    "t5_1.1_base": _t5_v1_1(768, 2048, num_layers=12, num_heads=12),
    "t5_1.1_large": _t5_v1_1(1024, 2816, num_layers=24, num_heads=16),
    # FLAN-T5 checkpoints share the T5.1.1 architecture.
    "flan_small_multi": _t5_v1_1(512, 1024, num_layers=8, num_heads=6),
    "flan_base_multi": _t5_v1_1(768, 2048, num_layers=12, num_heads=12),
    "flan_large_multi": _t5_v1_1(1024, 2816, num_layers=24, num_heads=16),
}


def _backbone_arguments():
    """Keyword arguments accepted by `keras_hub.models.T5Backbone`."""
    parameters = inspect.signature(keras_hub.models.T5Backbone.__init__).parameters
    names = {
        name
        for name, p in parameters.items()
        if name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    # Forwarded through `**kwargs` to `Backbone`/`keras.Model`.
    return names | {"name", "trainable"}


def t5_backbone(arch, **overrides):
    """Build a randomly initialised `keras_hub.models.T5Backbone`.

    Nothing is downloaded: the architecture comes from `ARCHITECTURES`, and
    the weights are freshly initialised.

    Args:
        arch: str. One of the keys of `ARCHITECTURES`, i.e. a KerasHub T5
            preset name such as `"t5_small_multi"` or `"flan_base_multi"`.
        **overrides: `T5Backbone` keyword arguments that replace the
            architecture's values, e.g. to shrink a model in tests:
            `t5_backbone("t5_small_multi", num_layers=2, hidden_dim=16,
            intermediate_dim=32, num_heads=2, vocabulary_size=100)`.
            The T5.1.1/FLAN architectures fix `key_value_dim=64`; override
            it too when shrinking them.

    Returns:
        A `keras_hub.models.T5Backbone`.

    Raises:
        ValueError: if `arch` is unknown, or an override is not a
            `T5Backbone` argument.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(
            f"Unknown T5 architecture {arch!r}. Valid names are: "
            f"{', '.join(ARCHITECTURES)}."
        )
    valid = _backbone_arguments()
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise ValueError(
            f"Invalid override(s) {', '.join(map(repr, unknown))} for "
            f"t5_backbone({arch!r}): not `keras_hub.models.T5Backbone` "
            f"arguments. Valid overrides are: {', '.join(sorted(valid))}."
        )
    config = {**ARCHITECTURES[arch], **overrides}
    return keras_hub.models.T5Backbone(**config)


@contextlib.contextmanager
def deferred_weights():
    """Create variables without allocating or initialising them.

    Variables created in a `keras.StatelessScope` only record their shape and
    initializer, so a 780M-parameter backbone costs no weight memory (counts
    and shapes only). Keras registers them for initialisation by the next
    outermost `StatelessScope`; they are unregistered on exit so they are
    never allocated. Not on the torch backend, whose layers cannot track
    unallocated variables.
    """
    # `global_state` is not public; it holds Keras's pending initialisations.
    from keras.src.backend.common import global_state

    key = "uninitialized_variables"
    pending = list(global_state.get_global_attribute(key, []) or [])
    try:
        with keras.StatelessScope(initialize_variables=False):
            yield
    finally:
        global_state.set_global_attribute(key, pending)
