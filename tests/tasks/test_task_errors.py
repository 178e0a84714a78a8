"""Every bad input gives a DataError (ValueError) naming the problem and fix."""

import sys
import types

import pytest

from keras_compacter import tasks


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_task_lists_the_valid_names():
    with pytest.raises(tasks.UnknownTaskError) as info:
        tasks.get_task("glue-foo")
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert "'glue-foo'" in message and "sst2" in message and "record" in message
    assert "custom_task" in message


def test_missing_file_names_expected_path_and_layout(tmp_path):
    (tmp_path / "MRPC").mkdir()
    write(tmp_path / "MRPC" / "train.tsv", "Quality\t#1 String\t#2 String\n")
    with pytest.raises(tasks.DataError) as info:
        tasks.get_task("mrpc").load("validation", data_dir=tmp_path / "MRPC")
    message = str(info.value)
    assert str(tmp_path / "MRPC" / "dev.tsv") in message
    assert "train.tsv, dev.tsv, test.tsv" in message and "train.tsv" in message
    with pytest.raises(tasks.DataError, match="not found"):
        tasks.get_task("boolq").load("train", path=tmp_path / "nope.jsonl")
    with pytest.raises(tasks.DataError, match="BoolQ/ with train.jsonl, val.jsonl"):
        tasks.get_task("boolq").load("train", data_dir=tmp_path / "missing")


def test_no_data_given():
    with pytest.raises(tasks.DataError, match="data_dir="):
        tasks.get_task("sst2").load("train")


def test_unknown_split_and_source(tmp_path):
    with pytest.raises(tasks.DataError, match="unknown split 'dev'"):
        tasks.get_task("sst2").load("dev", data_dir=tmp_path)
    with pytest.raises(tasks.DataError, match="unknown data source"):
        tasks.get_task("sst2").load("train", source="kaggle")


def test_malformed_tsv_row_names_file_and_line(tmp_path):
    path = write(tmp_path / "train.tsv", "sentence\tlabel\ngood .\t1\nbad . 0\n")
    with pytest.raises(tasks.DataError) as info:
        tasks.get_task("sst2").load("train", path=path)
    message = str(info.value)
    assert str(path) in message and "line 3" in message
    assert "expected 2" in message and "found 1" in message


def test_malformed_cola_row(tmp_path):
    path = write(tmp_path / "train.tsv", "gj04\t1\t\tFine.\ngj04\t0\tBroken.\n")
    with pytest.raises(tasks.DataError, match="line 2"):
        tasks.get_task("cola").load("train", path=path)


def test_unknown_columns_list_the_columns_present(tmp_path):
    path = write(tmp_path / "train.tsv", "text\tlabel\nhi\t1\n")
    with pytest.raises(tasks.DataError) as info:
        tasks.get_task("sst2").load("train", path=path)
    message = str(info.value)
    assert "'sentence'" in message and "Columns present: 'text', 'label'" in message
    path = write(tmp_path / "d.csv", "question,answer\nq,a\n")
    with pytest.raises(tasks.DataError, match="Columns present: 'question', 'answer'"):
        tasks.custom_task(["question", "context"], "answer").load("train", path=path)
    with pytest.raises(tasks.DataError, match="no label column .'target'"):
        tasks.custom_task(["question"], "target").load("train", path=path)


def test_missing_label_column_in_train(tmp_path):
    path = write(tmp_path / "train.tsv", "index\tsentence\n0\tx\n")
    with pytest.raises(tasks.DataError, match="no label column"):
        tasks.get_task("sst2").load("train", path=path)


def test_jsonl_line_that_is_not_json(tmp_path):
    path = write(
        tmp_path / "val.jsonl",
        '{"question": "q", "passage": "p", "label": true}\n{"question": "q", oops}\n',
    )
    with pytest.raises(tasks.DataError) as info:
        tasks.get_task("boolq").load("validation", path=path)
    assert "line 2" in str(info.value) and "not valid JSON" in str(info.value)
    path = write(tmp_path / "x.jsonl", "[1, 2]\n")
    with pytest.raises(tasks.DataError, match="expected a JSON object"):
        tasks.get_task("boolq").load("validation", path=path)


def test_missing_or_non_text_field_in_jsonl(tmp_path):
    path = write(
        tmp_path / "train.jsonl",
        '{"question": "q", "passage": "p", "label": true}\n'
        '{"question": "q", "label": true, "passage": 3}\n',
    )
    with pytest.raises(tasks.DataError, match="line 2: field 'passage' should be text"):
        tasks.get_task("boolq").load("train", path=path)


def test_unknown_label_in_file_names_line_and_valid_labels(tmp_path):
    path = write(
        tmp_path / "dev.tsv",
        "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\tb\tmaybe\n",
    )
    with pytest.raises(tasks.DataError) as info:
        tasks.get_task("rte").load("validation", path=path)
    message = str(info.value)
    assert "line 3" in message and "'maybe'" in message
    assert "0 (entailment), 1 (not_entailment)" in message
    path = write(
        tmp_path / "train.jsonl", '{"premise": "p", "hypothesis": "h", "label": 3}\n'
    )
    with pytest.raises(tasks.DataError, match="unknown label 3"):
        tasks.get_task("cb").load("train", path=path)
    path = write(tmp_path / "s.tsv", "sentence1\tsentence2\tscore\na\tb\t7.5\n")
    with pytest.raises(tasks.DataError, match="score from 0 to 5"):
        tasks.get_task("stsb").load("train", path=path)


def test_text_pairs_rejects_empty_split_and_unknown_labels():
    with pytest.raises(tasks.DataError, match="empty split"):
        tasks.text_pairs("sst2", [])
    examples = [{"sentence": "a", "label": 1}, {"sentence": "b", "label": "positive"}]
    with pytest.raises(tasks.DataError) as info:
        tasks.text_pairs("sst2", examples)
    message = str(info.value)
    assert "example 1" in message and "'positive'" in message
    assert "Valid labels: 0, 1" in message
    task = tasks.custom_task(["text"], "label", labels=["neg", "pos"])
    with pytest.raises(tasks.DataError, match="unknown label 'meh'.*neg, pos"):
        tasks.text_pairs(task, [{"text": "x", "label": "meh"}])
    with pytest.raises(tasks.DataError, match="score from 0 to 5"):
        tasks.text_pairs("stsb", [{"sentence1": "a", "sentence2": "b", "label": 9.0}])
    with pytest.raises(tasks.DataError, match="no field 'sentence'"):
        tasks.text_pairs("sst2", [{"text": "a", "label": 1}])
    with pytest.raises(tasks.DataError, match="example 0 of sst2 is a tuple"):
        tasks.text_pairs("sst2", [("a", 1)])


def test_empty_and_unknown_files(tmp_path):
    path = write(tmp_path / "train.tsv", "")
    with pytest.raises(tasks.DataError, match="empty"):
        tasks.get_task("sst2").load("train", path=path)
    path = write(tmp_path / "train.jsonl", "\n")
    with pytest.raises(tasks.DataError, match="empty split"):
        tasks.get_task("boolq").load("train", path=path)
    path = write(tmp_path / "dev.tsv", "sentence\tlabel\n")
    with pytest.raises(tasks.DataError, match="empty split"):
        tasks.get_task("sst2").load("validation", path=path)
    path = write(tmp_path / "r.jsonl", "")
    with pytest.raises(tasks.DataError, match="empty split"):
        tasks.get_task("record").load("validation", path=path)
    path = write(tmp_path / "train.parquet", "x")
    with pytest.raises(tasks.DataError, match="unknown data file type '.parquet'"):
        tasks.get_task("sst2").load("train", path=path)
    path = tmp_path / "latin1.tsv"
    path.write_bytes("sentence\tlabel\ncaf\xe9\t1\n".encode("latin-1"))
    with pytest.raises(tasks.DataError, match="not UTF-8"):
        tasks.get_task("sst2").load("train", path=path)


def test_bad_custom_task_arguments():
    with pytest.raises(tasks.DataError, match="input_columns"):
        tasks.custom_task([], "label")
    with pytest.raises(tasks.DataError, match="unknown metric 'bleu'"):
        tasks.custom_task(["a"], "b", metric="bleu")
    with pytest.raises(tasks.DataError, match="needs labels"):
        tasks.custom_task(["a"], "b", metric="f1_multiclass")
    with pytest.raises(tasks.DataError, match="'label' cannot be an input"):
        tasks.custom_task(["text", "label"], "target")
    with pytest.raises(tasks.DataError, match="'y' cannot be an input"):
        tasks.custom_task(["x", "y"], "y")


def test_malformed_superglue_nested_rows(tmp_path):
    path = write(tmp_path / "val.jsonl", '{"idx": 0, "passage": {"text": "t"}}\n')
    with pytest.raises(tasks.DataError, match="line 1: expected a 'questions' list"):
        tasks.get_task("multirc").load("validation", path=path)
    path = write(
        tmp_path / "e.jsonl",
        '{"idx": 0, "qas": [], "passage": {"text": "t", "entities": [{"s": 0}]}}\n',
    )
    with pytest.raises(tasks.DataError, match="line 1: malformed ReCoRD entity"):
        tasks.get_task("record").load("validation", path=path)
    path = write(tmp_path / "r.jsonl", '{"idx": 0, "qas": [], "passage": "t"}\n')
    with pytest.raises(tasks.DataError, match="expected a 'passage' dict"):
        tasks.get_task("record").load("validation", path=path)


def test_library_sources_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(tasks.DataError, match="pip install datasets"):
        tasks.get_task("sst2").load("train", source="hf")
    with pytest.raises(tasks.DataError, match="pip install tensorflow-datasets"):
        tasks.get_task("boolq").load("train", source="tfds")


def test_library_sources_offline(monkeypatch):
    def load_dataset(*args, **kwargs):
        raise ConnectionError("Couldn't reach the Hugging Face Hub")

    def tfds_load(*args, **kwargs):
        raise OSError("no internet")

    monkeypatch.setitem(
        sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset)
    )
    fake_tfds = types.SimpleNamespace(load=tfds_load, as_numpy=lambda d: d)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake_tfds)
    with pytest.raises(tasks.DataError, match="Offline.*data_dir"):
        tasks.get_task("sst2").load("train", source="hf")
    with pytest.raises(tasks.DataError, match="super_glue/cb.*Offline"):
        tasks.get_task("cb").load("train", source="tfds")


def test_custom_task_cannot_load_by_name():
    task = tasks.custom_task(["a"], "b")
    with pytest.raises(tasks.DataError, match="cannot be loaded by name"):
        task.load("train", source="hf")
    with pytest.raises(tasks.DataError, match="cannot be loaded by name"):
        task.load("train", source="tfds")
