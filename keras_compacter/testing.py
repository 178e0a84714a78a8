"""Helpers for tests: tiny, offline T5 models, tokenizers and presets.

KerasHub's T5 presets live on Kaggle and cannot be downloaded in tests. These
helpers build the same kind of objects at toy scale: a SentencePiece
vocabulary trained on a few sentences, a tiny `keras_hub.models.T5Seq2SeqLM`
with its tokenizer and preprocessor, and a local preset directory that
`from_preset()` loads like a real one.

`sentencepiece` is needed only by `tiny_sentencepiece_proto()` (it is part of
the `tests` extra).
"""

import io

import keras
import keras_hub

from keras_compacter.models.t5.architectures import t5_backbone

__all__ = [
    "TINY_CORPUS",
    "tiny_sentencepiece_proto",
    "tiny_t5_tokenizer",
    "tiny_t5_seq2seq_lm",
    "save_tiny_preset",
]

#: Sentences the tiny vocabulary is trained on. They mimic the T5 task-prefix
#: format of the GLUE/SuperGLUE style tasks used in the Compacter paper.
TINY_CORPUS = (
    "the quick brown fox jumped over the lazy dog",
    "the earth is round and the sky is blue",
    "translate english to german: the house is wonderful",
    "summarize: state authorities dispatched emergency crews tuesday",
    "a stitch in time saves nine",
    "all that glitters is not gold",
    "cola sentence: the book was written by john",
    "sst2 sentence: this movie is a delight from start to finish",
    "rte sentence1: a cat sat on the mat sentence2: an animal is sitting",
    "mnli hypothesis: nobody came premise: everyone came to the party",
    "qnli question: where is paris? sentence: paris is in france",
    "positive negative entailment contradiction neutral acceptable",
    "one two three four five six seven eight nine ten",
)

#: Default shape of the tiny model; any `T5Backbone` argument can be
#: overridden through `tiny_t5_seq2seq_lm(**backbone_overrides)`.
TINY_BACKBONE_OVERRIDES = {
    "num_layers": 2,
    "num_heads": 2,
    "hidden_dim": 16,
    "intermediate_dim": 32,
    "key_value_dim": 8,
}


def tiny_sentencepiece_proto(vocabulary_size=100, corpus=TINY_CORPUS):
    """Train a tiny SentencePiece unigram model with T5's special pieces.

    The pieces are laid out like T5's vocabulary: `<pad>` is id 0, `</s>`
    (end of sequence, also T5's start token alias) id 1 and `<unk>` id 2,
    with no beginning-of-sequence piece. Training is single-threaded and
    uses the identity normalisation, so the result is deterministic and only
    about a kilobyte.

    Args:
        vocabulary_size: int. Number of pieces, specials included. Must be
            small enough for `corpus` (100 works for the default corpus).
        corpus: iterable of str. Training sentences.

    Returns:
        bytes: the serialized SentencePiece model proto, accepted as `proto`
        by `keras_hub.models.T5Tokenizer`.
    """
    try:
        import sentencepiece
    except ImportError as e:  # pragma: no cover - environment dependent.
        raise ImportError(
            "tiny_sentencepiece_proto() needs the `sentencepiece` package "
            "(`pip install keras-compacter[tests]`)."
        ) from e

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(list(corpus)),
        model_writer=model,
        vocab_size=vocabulary_size,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        pad_piece="<pad>",
        eos_piece="</s>",
        unk_piece="<unk>",
        normalization_rule_name="identity",
        num_threads=1,
        minloglevel=2,
    )
    return model.getvalue()


def tiny_t5_tokenizer(proto=None):
    """Build a `keras_hub.models.T5Tokenizer` on a tiny vocabulary.

    Args:
        proto: optional bytes or path of a SentencePiece model. Defaults to
            `tiny_sentencepiece_proto()`.

    Returns:
        A `keras_hub.models.T5Tokenizer`.
    """
    if proto is None:
        proto = tiny_sentencepiece_proto()
    return keras_hub.models.T5Tokenizer(proto=proto)


def tiny_t5_seq2seq_lm(
    arch="t5_small_multi",
    proto=None,
    encoder_sequence_length=16,
    decoder_sequence_length=8,
    seed=None,
    **backbone_overrides,
):
    """Build a tiny, randomly initialised `keras_hub.models.T5Seq2SeqLM`.

    The backbone is `t5_backbone(arch, ...)` shrunk by
    `TINY_BACKBONE_OVERRIDES` (2 layers, 2 heads of 8, hidden 16, feed-forward
    32) with `vocabulary_size` set to the tokenizer's. It keeps the structural
    choices of `arch`: e.g. `"t5_small_multi"` gives a ReLU, ungated model
    with a tied output head, `"flan_small_multi"` a gated-GELU model with an
    untied head. The model comes with a `T5Seq2SeqLMPreprocessor`, so
    `generate()`, `fit()` and `predict()` accept strings.

    Args:
        arch: str. A name from `keras_compacter.models.t5.architectures`.
        proto: optional SentencePiece model (bytes or path). Defaults to
            `tiny_sentencepiece_proto()`.
        encoder_sequence_length: int. Packed encoder length of the
            preprocessor.
        decoder_sequence_length: int. Packed decoder length of the
            preprocessor, also the default `generate()` max length.
        seed: optional int. If set, `keras.utils.set_random_seed(seed)` is
            called first (this reseeds Python, NumPy and the backend
            globally) so the weights are reproducible.
        **backbone_overrides: `T5Backbone` arguments replacing the tiny
            defaults.

    Returns:
        A `keras_hub.models.T5Seq2SeqLM` with a preprocessor.
    """
    if seed is not None:
        keras.utils.set_random_seed(seed)
    tokenizer = tiny_t5_tokenizer(proto)
    overrides = {
        **TINY_BACKBONE_OVERRIDES,
        "vocabulary_size": tokenizer.vocabulary_size(),
        **backbone_overrides,
    }
    backbone = t5_backbone(arch, **overrides)
    preprocessor = keras_hub.models.T5Seq2SeqLMPreprocessor(
        tokenizer=tokenizer,
        encoder_sequence_length=encoder_sequence_length,
        decoder_sequence_length=decoder_sequence_length,
    )
    return keras_hub.models.T5Seq2SeqLM(backbone=backbone, preprocessor=preprocessor)


def save_tiny_preset(preset_dir, **kwargs):
    """Save a tiny `T5Seq2SeqLM` as a local KerasHub preset directory.

    The directory holds everything a real T5 preset does (backbone and task
    configs, weights, tokenizer and preprocessor configs, the SentencePiece
    vocabulary), so `keras_hub.models.T5Seq2SeqLM.from_preset(preset_dir)`,
    `keras_hub.models.T5Backbone.from_preset(preset_dir)` and
    `keras_hub.models.T5Tokenizer.from_preset(preset_dir)` all work offline.

    Note: the installed KerasHub (0.32) does not write the preprocessor's
    `encoder_sequence_length`/`decoder_sequence_length` into the preset, so
    a reloaded preprocessor uses the 1024/1024 defaults (slow `generate()`
    without `max_length`). Pass them back when loading, e.g.
    `keras_hub.models.T5Seq2SeqLMPreprocessor.from_preset(preset_dir,
    encoder_sequence_length=16, decoder_sequence_length=8)` and
    `T5Seq2SeqLM.from_preset(preset_dir, preprocessor=...)`.

    Args:
        preset_dir: str or path-like. Directory to write; created if needed.
        **kwargs: passed to `tiny_t5_seq2seq_lm()`.

    Returns:
        The `keras_hub.models.T5Seq2SeqLM` that was saved, to compare the
        reloaded model against.
    """
    model = tiny_t5_seq2seq_lm(**kwargs)
    model.save_to_preset(str(preset_dir))
    return model
