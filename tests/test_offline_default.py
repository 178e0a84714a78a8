"""The shipped offline default assets load and are well formed."""

import csv
import json
import os

import keras
import pytest

from keras_compacter import default


def test_module_is_light():
    # Importing the module must not require any asset to be loaded.
    assert os.path.isdir(default.preset_path())
    files = default.task_files()
    assert set(files) == {"train", "validation"}
    for path in files.values():
        assert os.path.isfile(path)
    assert os.path.isfile(
        os.path.join(os.path.dirname(default.__file__), "LICENSE.wordnet")
    )


@pytest.mark.parametrize("split", ["train", "validation"])
def test_task_files_parse(split):
    with open(default.task_files()[split], encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        rows = list(reader)
    assert header == [default.TEXT_COLUMN, default.LABEL_COLUMN]
    assert all(len(r) == 2 for r in rows)
    labels = [int(r[1]) for r in rows]
    assert set(labels) == set(range(len(default.LABELS)))
    assert all(r[0].strip() for r in rows)
    assert rows == [[s, str(lab)] for s, lab in default.read_split(split)]
    if split == "train":
        assert 1000 <= len(rows) <= 5000
    else:
        assert 200 <= len(rows) <= 1000


def test_splits_are_disjoint_and_text_to_text():
    train = {s for s, _ in default.read_split("train")}
    validation = {s for s, _ in default.read_split("validation")}
    assert not train & validation
    source, target = default.to_text_to_text("a small dog", 0)
    assert source == "sentence: a small dog" and target == "animal"
    assert default.TARGETS == tuple(lab.split(".")[1] for lab in default.LABELS)
    assert len(set(default.TARGETS)) == len(default.LABELS)
    assert default.to_text_to_text("x")[1] is None
    source, _ = default.to_text_to_text("x", add_prefix=True)
    assert source.startswith(default.TASK_NAME + " sentence: ")


def test_preset_config():
    with open(os.path.join(default.preset_path(), "config.json")) as f:
        config = json.load(f)["config"]
    assert config["hidden_dim"] == 128
    assert config["num_layers"] == 3
    assert config["vocabulary_size"] == 2048
    # `T5Seq2SeqLM.from_preset` builds the backbone from task.json, not from
    # config.json: both must say dropout 0 (an earlier build had 0.1 there).
    with open(os.path.join(default.preset_path(), "task.json")) as f:
        task_backbone = json.load(f)["config"]["backbone"]["config"]
    assert config["dropout"] == task_backbone["dropout"] == 0.0
    assert default.load_model().backbone.get_config()["dropout"] == 0.0

    def size(folder):
        total = 0
        for root, _, names in os.walk(folder):
            total += sum(os.path.getsize(os.path.join(root, n)) for n in names)
        return total

    assert size(default.preset_path()) < 8 * 2**20
    assert size(os.path.dirname(default.__file__)) < 9 * 2**20


def test_default_run_settings():
    import keras_compacter as kc

    assert isinstance(default.EPOCHS, int) and 1 <= default.EPOCHS <= 20
    assert set(default.LEARNING_RATES) <= set(kc.methods())
    assert all(0 < lr < 1 for lr in default.LEARNING_RATES.values())


def test_build_info_records_the_pretraining():
    path = os.path.join(os.path.dirname(default.__file__), "build_info.json")
    with open(path) as f:
        info = json.load(f)
    pre = info["pretraining"]
    assert pre["steps"] > 0 and pre["validation_loss"] < pre["loss_history"][0][1]
    assert info["task"]["labels"] == list(default.LABELS)


@pytest.fixture(scope="module")
def lm():
    # `load_model()` is `T5Seq2SeqLM.from_preset(preset_path())` plus setting
    # the preprocessor's sequence lengths (which presets do not store).
    return default.load_model()


def test_preset_loads_tokenizes_and_generates(lm):
    import keras_hub

    assert isinstance(lm, keras_hub.models.T5Seq2SeqLM)
    assert lm.preprocessor.encoder_sequence_length == default.ENCODER_SEQUENCE_LENGTH
    assert lm.preprocessor.decoder_sequence_length == default.DECODER_SEQUENCE_LENGTH
    assert lm.count_params() < 3_000_000
    tokenizer = lm.preprocessor.tokenizer
    vocab_size = tokenizer.vocabulary_size()
    assert vocab_size == lm.backbone.vocabulary_size
    assert tokenizer.pad_token_id == 0
    assert tokenizer.end_token_id == 1
    assert tokenizer.token_to_id("<unk>") == 2
    # T5 convention: sentinels count down from the end of the vocabulary.
    assert tokenizer.token_to_id("<extra_id_0>") == vocab_size - 1
    assert tokenizer.token_to_id("<extra_id_99>") == vocab_size - 100

    text = "sentence: a domestic animal kept for its milk"
    ids = keras.ops.convert_to_numpy(tokenizer(text)).tolist()
    assert ids and 2 not in ids  # no unknown pieces
    assert tokenizer.detokenize(ids) == text
    for target in default.TARGETS:
        ids = keras.ops.convert_to_numpy(tokenizer(target)).tolist()
        assert len(ids) + 2 <= default.DECODER_SEQUENCE_LENGTH  # start + eos
        assert tokenizer.detokenize(ids) == target

    lm.preprocessor.encoder_sequence_length = 16
    lm.preprocessor.decoder_sequence_length = 6
    lm.compile(sampler="greedy")
    if keras.backend.backend() == "tensorflow":
        lm.jit_compile = False  # skip the XLA compilation to keep this fast
    outputs = lm.generate([text, "a <extra_id_0> of a tree"])
    assert len(outputs) == 2
    assert all(isinstance(o, str) for o in outputs)


@pytest.mark.parametrize("method", sorted(default.METHOD_SETTINGS))
def test_default_method_settings_fit_the_preset(method):
    import keras_compacter as kc
    from keras_compacter.methods import get_method

    model = default.load_model()
    paper = get_method(method)
    (setting,) = default.METHOD_SETTINGS[method]
    with pytest.raises(ValueError, match=setting):
        kc.inject(default.load_model(), paper)  # the T5-base settings do not
    config = get_method(method, **default.METHOD_SETTINGS[method])
    kc.inject(model, config)
    assert kc.injected_method(model) == config
    assert kc.trained_variables(model)


def test_train_uses_the_default_settings_unless_set():
    import argparse

    from keras_compacter import runs, train

    def method(name, *sets, task=None):
        args = argparse.Namespace(method=name, set=list(sets) or None)
        return train._method(args, task or runs.DefaultTask())

    assert method("phm-adapter").phm_dim == 4
    assert method("phm-adapter", "phm_dim=2").phm_dim == 2  # --set wins
    assert method("adapterdrop").dropped_layers == 1
    assert method("compacter++").phm_dim == 4
    # Another task keeps the paper's settings.
    assert method("phm-adapter", task=object()).phm_dim == 12
    assert method("adapterdrop", task=object()).dropped_layers == 5


def _build_script():
    import importlib.util

    path = os.path.join(
        os.path.dirname(__file__), "..", "examples", "make_offline_default.py"
    )
    spec = importlib.util.spec_from_file_location("make_offline_default", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_span_corruption_one_example_per_document():
    import numpy as np

    build = _build_script()
    vocab_size, inputs_length = 500, 16
    raw, _ = build.input_and_target_lengths(inputs_length, 0.15, 3.0)
    rng = np.random.default_rng(0)
    docs = [list(rng.integers(3, 300, size=n)) for n in (5, 12, 2, raw + 6)]
    x, y, weight = build.make_span_corruption_arrays(
        docs, inputs_length, vocab_size, np.random.default_rng(1)
    )
    # The 2-token document is dropped; the long one becomes two pieces.
    pieces = [docs[0], docs[1], docs[3][:raw], docs[3][raw:]]
    assert len(y) == len(pieces)
    np.testing.assert_array_equal(weight, (y != 0).astype("float32"))
    for i, piece in enumerate(pieces):
        enc = [int(t) for t in x["encoder_token_ids"][i] if t != 0]
        tgt = [int(t) for t in y[i] if t != 0]
        assert enc[-1] == 1 and tgt[-1] == 1  # eos
        assert x["decoder_token_ids"][i][0] == 0  # decoder start
        # Teacher forcing: the decoder reads the target shifted right by one.
        dec = x["decoder_token_ids"][i]
        assert dec[1 : len(tgt)].tolist() == tgt[:-1] and not dec[len(tgt) :].any()
        # Put each target span back where its sentinel is in the input.
        spans, current = {}, None
        for t in tgt[:-1]:
            if t >= vocab_size - build.NUM_SENTINELS:
                current = spans.setdefault(t, [])
            else:
                current.append(t)
        restored = []
        for t in enc[:-1]:
            restored += spans[t] if t in spans else [t]
        assert restored == [int(t) for t in piece]
        assert any(t in spans for t in enc)  # something is masked
