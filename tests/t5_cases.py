"""Tiny KerasHub T5 models and batches shared by the tests."""

import keras
import keras_hub
import numpy as np

VOCAB, LAYERS, HEADS, KV, FF = 100, 2, 2, 8, 32
INNER = HEADS * KV

# (method, hidden size, settings): the smallest hidden size at which the
# method's defaults divide (m = d / 32 must be a multiple of n for PHM).
CASES = {
    "compacter": (128, {}),
    "compacter++": (128, {}),
    "phm-adapter": (384, {}),
    "adapter": (32, {}),
    "pfeiffer-adapter": (32, {}),
    "adapterdrop": (32, {"dropped_layers": 1}),
    "adapter-lowrank": (32, {}),
    "prompt-tuning": (16, {"length": 5}),
    "intrinsic-said": (16, {}),
    "bitfit": (16, {}),
    "full": (16, {}),
    "lora": (16, {}),
}


def tiny_lm(hidden_dim, num_layers=LAYERS, seed=0):
    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.T5Backbone(
        vocabulary_size=VOCAB,
        num_layers=num_layers,
        num_heads=HEADS,
        hidden_dim=hidden_dim,
        intermediate_dim=FF,
        key_value_dim=KV,
        dropout=0.0,
    )
    return keras_hub.models.T5Seq2SeqLM(backbone=backbone)


def batch(seed=0, n=4, src=7, tgt=5):
    rng = np.random.default_rng(seed)
    enc_mask = np.ones((n, src), "int32")
    enc_mask[1, -2:] = 0  # some padding, so masks matter
    x = {
        "encoder_token_ids": rng.integers(3, VOCAB, (n, src)).astype("int32"),
        "encoder_padding_mask": enc_mask,
        "decoder_token_ids": rng.integers(3, VOCAB, (n, tgt)).astype("int32"),
        "decoder_padding_mask": np.ones((n, tgt), "int32"),
    }
    y = rng.integers(3, VOCAB, (n, tgt)).astype("int32")
    return x, y


def numpy_of(value):
    return np.array(keras.ops.convert_to_numpy(value))


def perturb_trained(model, seed=1, scale=0.1):
    """Give every trained variable non-trivial values (the method matters)."""
    import keras_compacter

    rng = np.random.default_rng(seed)
    for record in keras_compacter.trained_variables(model):
        v = record.variable
        v.assign(numpy_of(v) + scale * rng.standard_normal(v.shape).astype("float32"))


def adapted_lm(method, seed=0):
    """A tiny LM with `method` injected and its weights perturbed."""
    import keras_compacter

    hidden, settings = CASES[method]
    lm = tiny_lm(hidden, seed=seed)
    keras_compacter.inject(lm, method, **settings)
    perturb_trained(lm)
    return lm


# Methods whose per-method end-to-end tests run on every backend; the others
# run once, under the `slow` marker. Together they cover every mechanism:
# sublayer hooks with a shared rule, the encoder prefix, Dense biases and the
# logits hook, the stateless weight substitution, and Keras's LoRA.
DEFAULT_METHODS = ("compacter", "prompt-tuning", "bitfit", "intrinsic-said", "lora")


def method_params(methods=None):
    """`pytest.param`s over methods, the non-default ones marked slow."""
    import pytest

    return [
        pytest.param(m, marks=() if m in DEFAULT_METHODS else pytest.mark.slow, id=m)
        for m in (methods or CASES)
    ]
