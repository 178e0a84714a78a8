"""Standard T5 architectures: configs and parameter counts."""

import keras
import keras_hub
import pytest

from keras_compacter.models.t5.architectures import (
    ARCHITECTURES,
    deferred_weights,
    t5_backbone,
)

NAMES = [
    "t5_small_multi",
    "t5_base_multi",
    "t5_large_multi",
    "t5_1.1_small",
    "t5_1.1_base",
    "t5_1.1_large",
    "flan_small_multi",
    "flan_base_multi",
    "flan_large_multi",
]

# (hidden, feed-forward, layers, heads, head dim, T5.1.1-style) from the
# T5, T5.1.1 and FLAN-T5 papers/checkpoint configs. T5.1.1-style means gated
# GELU feed-forward and an untied output head; v1.0 is ReLU, ungated, tied.
EXPECTED_SHAPES = {
    "t5_small_multi": (512, 2048, 6, 8, 64, False),
    "t5_base_multi": (768, 3072, 12, 12, 64, False),
    "t5_large_multi": (1024, 4096, 24, 16, 64, False),
    "t5_1.1_small": (512, 1024, 8, 6, 64, True),
    "t5_1.1_base": (768, 2048, 12, 12, 64, True),
    "t5_1.1_large": (1024, 2816, 24, 16, 64, True),
    "flan_small_multi": (512, 1024, 8, 6, 64, True),
    "flan_base_multi": (768, 2048, 12, 12, 64, True),
    "flan_large_multi": (1024, 2816, 24, 16, 64, True),
}

# Parameter counts derived by hand from the closed form below; kept literal so
# that a change of either the configs or the formula shows up here.
EXPECTED_PARAMS = {
    "t5_small_multi": 60_506_624,
    "t5_base_multi": 222_903_552,
    "t5_large_multi": 737_668_096,
    "t5_1.1_small": 76_961_152,
    "t5_1.1_base": 247_577_856,
    "t5_1.1_large": 783_150_080,
    "flan_small_multi": 76_961_152,
    "flan_base_multi": 247_577_856,
    "flan_large_multi": 783_150_080,
}

# KerasHub's preset metadata for these two counts a *tied* output head
# (exactly one `vocabulary_size * hidden_dim` matrix less than the untied
# T5.1.1 architecture: 60,511,616 vs 76,961,152 and 750,251,008 vs
# 783,150,080), although T5.1.1 is untied and the t5_1.1_base and FLAN
# entries of the same architecture are counted untied. See the module
# docstring of `keras_compacter.models.t5.architectures`.
METADATA_COUNTS_TIED_HEAD = {"t5_1.1_small", "t5_1.1_large"}


def expected_num_params(config):
    """Closed-form parameter count of a KerasHub `T5Backbone` config."""
    vocab = config["vocabulary_size"]
    d = config["hidden_dim"]
    ff = config["intermediate_dim"]
    layers = config["num_layers"]
    heads = config["num_heads"]
    inner = heads * (config.get("key_value_dim") or d // heads)

    embedding = vocab * d
    lm_head = 0 if config["tie_embedding_weights"] else vocab * d
    attention = 4 * d * inner  # q, k, v: d -> inner; o: inner -> d; no biases.
    ff_in = 2 if config["use_gated_activation"] else 1  # wi (and wi_1 gate).
    feed_forward = (ff_in + 1) * d * ff  # wi [+ gate] + wo, no biases.
    # RMS norm scales only: before self-attention and feed-forward (+ before
    # cross-attention in the decoder).
    encoder_layer = attention + feed_forward + 2 * d
    decoder_layer = 2 * attention + feed_forward + 3 * d
    relative_bias = 2 * 32 * heads  # 32 buckets, 1st layer of each stack.
    final_norms = 2 * d  # Encoder and decoder output norms.
    return (
        embedding
        + lm_head
        + layers * (encoder_layer + decoder_layer)
        + relative_bias
        + final_norms
    )


def metadata_params(arch):
    return keras_hub.models.T5Backbone.presets[arch]["metadata"]["params"]


def test_architecture_names():
    assert list(ARCHITECTURES) == NAMES
    # Every name is a KerasHub T5 preset.
    assert set(NAMES) <= set(keras_hub.models.T5Backbone.presets)


@pytest.mark.parametrize("arch", NAMES)
def test_config_values(arch):
    d, ff, layers, heads, head_dim, v1_1 = EXPECTED_SHAPES[arch]
    config = ARCHITECTURES[arch]
    assert config["vocabulary_size"] == 32128
    assert config["hidden_dim"] == d
    assert config["intermediate_dim"] == ff
    assert config["num_layers"] == layers
    assert config["num_heads"] == heads
    assert (config["key_value_dim"] or d // heads) == head_dim
    assert config["use_gated_activation"] is v1_1
    assert config["tie_embedding_weights"] is (not v1_1)
    assert config["layer_norm_epsilon"] == 1e-6
    assert config["dropout"] == 0.1
    if v1_1:
        gelu_approximate = keras.saving.get_registered_object(
            "keras_hub>gelu_approximate"
        )
        assert config["activation"] is gelu_approximate
    else:
        assert config["activation"] == "relu"


@pytest.mark.parametrize("arch", NAMES)
def test_formula_gives_expected_count(arch):
    assert expected_num_params(ARCHITECTURES[arch]) == EXPECTED_PARAMS[arch]


@pytest.mark.parametrize("arch", NAMES)
def test_count_matches_keras_hub_metadata(arch):
    config = ARCHITECTURES[arch]
    if arch in METADATA_COUNTS_TIED_HEAD:
        # Inconsistent metadata: pin the exact discrepancy (one untied head).
        tied = {**config, "tie_embedding_weights": True}
        assert metadata_params(arch) == expected_num_params(tied)
        assert (
            EXPECTED_PARAMS[arch] - metadata_params(arch)
            == config["vocabulary_size"] * config["hidden_dim"]
        )
    else:
        assert metadata_params(arch) == EXPECTED_PARAMS[arch]


def test_metadata_inconsistency_is_internal():
    # T5.1.1 and FLAN-T5 share one architecture, but the metadata disagrees.
    assert metadata_params("flan_small_multi") == EXPECTED_PARAMS["t5_1.1_small"]
    assert metadata_params("flan_large_multi") == EXPECTED_PARAMS["t5_1.1_large"]
    assert metadata_params("t5_1.1_base") == metadata_params("flan_base_multi")


# Small, mutually distinct sizes keep every term of the formula visible
# (hidden != heads * head_dim, vocabulary != feed-forward, ...). Shrunk this
# way, all sizes of a family are the same model, so one build per family
# (ReLU/ungated/tied v1.0, gated-GELU/untied T5.1.1 = FLAN-T5) covers the
# structure; the full-size builds are in `test_full_size_count` (slow).
SHRINK = {
    "vocabulary_size": 37,
    "hidden_dim": 12,
    "intermediate_dim": 20,
    "num_layers": 2,
    "num_heads": 3,
}
FAMILIES = ["t5_small_multi", "flan_small_multi"]


@pytest.fixture(scope="module", params=FAMILIES)
def shrunk(request):
    """(arch, effective config, backbone) of a shrunk model per family."""
    arch = request.param
    overrides = dict(SHRINK, name=f"shrunk_{arch.replace('.', '_')}")
    # Head dim 5 (inner 15 != hidden 12) where the architecture fixes it;
    # T5 v1.0 derives it from hidden_dim // num_heads = 4.
    if ARCHITECTURES[arch]["key_value_dim"] is not None:
        overrides["key_value_dim"] = 5
    config = {**ARCHITECTURES[arch], **overrides}
    return arch, config, t5_backbone(arch, **overrides)


def test_shrunk_count_matches_formula(shrunk):
    arch, config, backbone = shrunk
    assert isinstance(backbone, keras_hub.models.T5Backbone)
    assert backbone.count_params() == expected_num_params(config)
    assert backbone.tie_embedding_weights == config["tie_embedding_weights"]
    assert backbone.use_gated_activation == config["use_gated_activation"]
    # The shared embedding, plus a separate output head when untied.
    embedding = backbone.token_embedding
    assert tuple(embedding.embeddings.shape) == (37, 12)
    if config["tie_embedding_weights"]:
        assert len(embedding.weights) == 1
    else:
        assert tuple(embedding.reverse_embeddings.shape) == (12, 37)
    attention = backbone.encoder_transformer_layers[0].self_attention
    assert attention.inner_dim == 3 * (config["key_value_dim"] or 4)


def test_overrides_shrink_the_model(shrunk):
    arch, config, backbone = shrunk
    assert backbone.name == config["name"]
    assert backbone.num_layers == 2
    assert len(backbone.encoder_transformer_layers) == 2
    assert len(backbone.decoder_transformer_layers) == 2
    assert backbone.vocabulary_size == 37
    assert backbone.hidden_dim == 12
    assert backbone.intermediate_dim == 20
    assert backbone.num_heads == 3
    # Overrides do not leak into the shared table.
    assert ARCHITECTURES[arch]["num_layers"] == EXPECTED_SHAPES[arch][2]
    assert ARCHITECTURES[arch]["hidden_dim"] == EXPECTED_SHAPES[arch][0]
    assert "name" not in ARCHITECTURES[arch]


@pytest.mark.slow
@pytest.mark.parametrize("arch", NAMES)
def test_full_size_count(arch):
    with deferred_weights():
        backbone = t5_backbone(arch)
    count = backbone.count_params()
    assert count == expected_num_params(ARCHITECTURES[arch])
    assert count == EXPECTED_PARAMS[arch]
    if arch not in METADATA_COUNTS_TIED_HEAD:
        assert count == metadata_params(arch)


def test_unknown_arch_lists_valid_names():
    with pytest.raises(ValueError, match="t5_tiny") as info:
        t5_backbone("t5_tiny")
    for name in NAMES:
        assert name in str(info.value)


def test_invalid_override_is_rejected():
    with pytest.raises(ValueError, match="'hidden_size'") as info:
        t5_backbone("t5_small_multi", hidden_size=16)
    message = str(info.value)
    assert "T5Backbone" in message
    assert "hidden_dim" in message  # The valid arguments are listed.
