"""Reading the official GLUE TSV / SuperGLUE JSONL layouts and custom files."""

import json

import pytest

from keras_compacter import tasks


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(path, rows):
    return write(path, "".join(json.dumps(r) + "\n" for r in rows))


def test_cola_headerless_train_and_headed_test(tmp_path):
    folder = tmp_path / "CoLA"
    write(
        folder / "train.tsv",
        "gj04\t1\t\tOur friends won't buy this analysis.\n"
        'gj04\t0\t*\tThey drank the "pub".\n',
    )
    write(folder / "test.tsv", "index\tsentence\n0\tBill whistled.\n")
    cola = tasks.get_task("cola")
    train = cola.load("train", data_dir=folder)
    assert [e["label"] for e in train] == [1, 0]
    assert train[1]["sentence"] == 'They drank the "pub".'  # QUOTE_NONE
    test = cola.load("test", data_dir=tmp_path)  # the parent folder works too
    assert test == [{"sentence": "Bill whistled.", "label": -1, "idx": 0}]


def test_sst2_and_qnli_rte_string_labels(tmp_path):
    write(tmp_path / "SST-2" / "dev.tsv", "sentence\tlabel\nit 's good .\t1\n")
    assert tasks.get_task("sst2").load("validation", data_dir=tmp_path / "SST-2") == [
        {"sentence": "it 's good .", "label": 1, "idx": 0}
    ]
    write(
        tmp_path / "QNLI" / "train.tsv",
        "index\tquestion\tsentence\tlabel\n0\tQ?\tS.\tnot_entailment\n1\tQ2?\tS2.\tentailment\n",
    )
    qnli = tasks.get_task("qnli")
    examples = qnli.load("train", data_dir=tmp_path / "QNLI")
    assert [qnli.to_text(e)[1] for e in examples] == ["1", "0"]
    write(
        tmp_path / "RTE" / "dev.tsv",
        "index\tsentence1\tsentence2\tlabel\n7\tA.\tB.\tnot_entailment\n",
    )
    rte = tasks.get_task("rte").load("validation", data_dir=tmp_path / "RTE")
    assert rte == [{"sentence1": "A.", "sentence2": "B.", "label": 1, "idx": 7}]


def test_mrpc_qqp_stsb_official_headers(tmp_path):
    write(
        tmp_path / "MRPC" / "train.tsv",
        "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t11\t12\tA.\tB.\n",
    )
    mrpc = tasks.get_task("mrpc").load("train", data_dir=tmp_path / "MRPC")
    assert mrpc[0]["sentence1"] == "A." and mrpc[0]["label"] == 1
    write(
        tmp_path / "QQP" / "dev.tsv",
        "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n5\t1\t2\tWhy?\tHow?\t0\n",
    )
    qqp = tasks.get_task("qqp").load("validation", data_dir=tmp_path / "QQP")
    assert qqp == [{"question1": "Why?", "question2": "How?", "label": 0, "idx": 5}]
    write(
        tmp_path / "STS-B" / "train.tsv",
        "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\t"
        "sentence2\tscore\n0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\t"
        "A plane is taking off.\tAn air plane is taking off.\t5.000\n",
    )
    stsb = tasks.get_task("stsb")
    examples = stsb.load("train", data_dir=tmp_path / "STS-B")
    assert stsb.to_text(examples[0]) == (
        "sentence1: A plane is taking off. sentence2: An air plane is taking off.",
        "5.0",
    )


def test_mnli_dev_matched_and_mismatched(tmp_path):
    header = (
        "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\t"
        "sentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\t"
        "sentence2\tlabel1\tgold_label\n"
    )
    row = "0\t1\t1e\tfiction\t(x)\t(y)\t(X)\t(Y)\tP.\tH.\tneutral\t{}\n"
    write(tmp_path / "MNLI" / "dev_matched.tsv", header + row.format("contradiction"))
    write(tmp_path / "MNLI" / "dev_mismatched.tsv", header + row.format("entailment"))
    mnli = tasks.get_task("mnli")
    matched = mnli.load("validation", data_dir=tmp_path)
    assert matched[0]["premise"] == "P." and matched[0]["label"] == 2
    mismatched = mnli.load("validation_mismatched", data_dir=tmp_path)
    assert mnli.to_text(mismatched[0]) == ("premise: P. hypothesis H.", "0")


def test_superglue_jsonl_boolq_cb_copa_wic(tmp_path):
    jsonl(
        tmp_path / "BoolQ" / "val.jsonl",
        [{"question": "is it", "passage": "It is.", "idx": 0, "label": True}],
    )
    boolq = tasks.get_task("boolq").load("validation", data_dir=tmp_path / "BoolQ")
    assert boolq == [{"question": "is it", "passage": "It is.", "label": 1, "idx": 0}]
    jsonl(
        tmp_path / "CB" / "train.jsonl",
        [
            {"premise": "P", "hypothesis": "H", "label": "contradiction", "idx": 0},
            {"premise": "P", "hypothesis": "H", "label": "neutral", "idx": 1},
        ],
    )
    cb = tasks.get_task("cb").load("train", data_dir=tmp_path)
    assert [e["label"] for e in cb] == [1, 2]
    jsonl(
        tmp_path / "COPA" / "test.jsonl",
        [
            {
                "premise": "P",
                "choice1": "a",
                "choice2": "b",
                "question": "effect",
                "idx": 0,
            }
        ],
    )
    copa = tasks.get_task("copa").load("test", data_dir=tmp_path / "COPA")
    assert copa[0]["label"] == -1
    jsonl(
        tmp_path / "WiC" / "train.jsonl",
        [
            {
                "word": "bed", "sentence1": "S1", "sentence2": "S2", "idx": 0,
                "label": False, "start1": 0, "end1": 3, "start2": 0, "end2": 3,
                "version": 1.1,
            }
        ],
    )  # fmt: skip
    wic = tasks.get_task("wic").load("train", data_dir=tmp_path / "WiC")
    assert tasks.get_task("wic").to_text(wic[0]) == (
        "sentence1: S1 sentence2: S2 word: bed",
        "0",
    )


def test_multirc_official_jsonl_is_flattened_per_answer(tmp_path):
    row = {
        "idx": 3,
        "version": 1.1,
        "passage": {
            "text": "<b>Sent 1: </b>Hi.<br>",
            "questions": [
                {
                    "question": "Who?",
                    "idx": 9,
                    "answers": [
                        {"text": "Me", "idx": 0, "label": 1},
                        {"text": "You", "idx": 1, "label": 0},
                    ],
                }
            ],
        },
    }
    jsonl(tmp_path / "MultiRC" / "val.jsonl", [row])
    multirc = tasks.get_task("multirc")
    examples = multirc.load("validation", data_dir=tmp_path / "MultiRC")
    assert examples == [
        {"paragraph": "<b>Sent 1: </b>Hi.<br>", "question": "Who?", "answer": "Me",
         "label": 1, "idx": {"paragraph": 3, "question": 9, "answer": 0}},
        {"paragraph": "<b>Sent 1: </b>Hi.<br>", "question": "Who?", "answer": "You",
         "label": 0, "idx": {"paragraph": 3, "question": 9, "answer": 1}},
    ]  # fmt: skip
    assert multirc.to_text(examples[1]) == (
        "question: Who? answer: You paragraph: Sent 1: Hi. ",
        "0",
    )


def test_record_official_jsonl(tmp_path):
    text = "Obama met Merkel.\n@highlight\nThey talked"
    row = {
        "idx": 0,
        "source": "Daily mail",
        "passage": {
            "text": text,
            "entities": [
                {"start": 0, "end": 4},
                {"start": 10, "end": 15},
                {"start": 0, "end": 4},
            ],
        },
        "qas": [
            {
                "query": "@placeholder met the press",
                "idx": 5,
                "answers": [{"start": 10, "end": 15, "text": "Merkel"}],
            }
        ],
    }
    jsonl(tmp_path / "ReCoRD" / "train.jsonl", [row])
    record = tasks.get_task("record")
    examples = record.load("train", data_dir=tmp_path)
    assert examples == [
        {
            "passage": text,
            "query": "@placeholder met the press",
            "entities": ["Merkel", "Obama"],
            "answers": ["Merkel"],
            "idx": {"passage": 0, "query": 5},
        }
    ]
    assert record.to_text(examples[0]) == (
        "record query: @placeholder met the press entities: Merkel, Obama "
        "passage: Obama met Merkel. They talked",
        "Merkel",
    )


def test_task_file_with_hf_column_names(tmp_path):
    path = jsonl(
        tmp_path / "rte.jsonl", [{"sentence1": "A", "sentence2": "B", "label": 1}]
    )
    assert tasks.get_task("rte").load("train", path=path)[0]["label"] == 1
    path = write(tmp_path / "sst.csv", 'sentence,label\n"a, b",0\n')
    assert tasks.get_task("sst2").load("train", path=path)[0]["sentence"] == "a, b"
    path = tmp_path / "bom.csv"
    path.write_bytes("sentence,label\r\nx,1\r\n".encode("utf-8-sig"))
    assert tasks.get_task("sst2").load("train", path=path)[0]["sentence"] == "x"
    path = write(tmp_path / "sst.json", json.dumps([{"sentence": "x", "label": "1"}]))
    assert tasks.get_task("sst2").load("train", path=path)[0]["label"] == 1


ROWS = [{"q": "Who?", "ctx": "Me.", "ans": "me"}, {"q": "Q", "ctx": "C", "ans": 2}]


@pytest.mark.parametrize(
    "name, text",
    [
        ("d.jsonl", json.dumps(ROWS[0]) + "\n\n" + json.dumps(ROWS[1]) + "\n"),
        ("d.tsv", "q\tctx\tans\nWho?\tMe.\tme\nQ\tC\t2\n"),
        ("d.csv", "q,ctx,ans\nWho?,Me.,me\nQ,C,2\n"),
        ("d.json", json.dumps(ROWS)),
    ],
)
def test_custom_task_reads_every_format(tmp_path, name, text):
    path = write(tmp_path / name, text)
    task = tasks.custom_task(["q", "ctx"], "ans")
    examples = task.load("train", path=path)
    sources, targets = tasks.text_pairs(task, examples)
    assert sources == ["q: Who? ctx: Me.", "q: Q ctx: C"]
    assert targets == ["me", "2"]


def test_custom_task_data_dir_and_metrics(tmp_path):
    write(tmp_path / "train.csv", "text,label\ngood,pos\nbad,neg\n")
    write(tmp_path / "dev.csv", "text,label\nok,pos\n")
    task = tasks.custom_task(
        ["text"], "label", metric=["f1", "accuracy"], labels=["neg", "pos"]
    )
    assert len(task.load("train", data_dir=tmp_path)) == 2
    validation = task.load("validation", data_dir=tmp_path)
    assert tasks.text_pairs(task, validation)[1] == ["pos"]
    out = task.score(["pos", "neg", "junk"], ["pos", "pos", "neg"])
    # junk (target neg) -> pos: tp1 fp1 fn1 -> F1 0.5
    assert out == {"f1": pytest.approx(50.0), "accuracy": pytest.approx(100 / 3)}
    regression = tasks.custom_task(["text"], "score", metric=["pearson", "spearmanr"])
    out = regression.score(["1", "2", "3"], ["1", "2", "3"])
    assert out == {"pearson": pytest.approx(100.0), "spearmanr": pytest.approx(100.0)}


def test_unlabeled_test_file_loads_but_cannot_train(tmp_path):
    write(tmp_path / "SST-2" / "test.tsv", "index\tsentence\n0\tfine .\n")
    examples = tasks.get_task("sst2").load("test", data_dir=tmp_path / "SST-2")
    assert examples[0]["label"] == -1
    with pytest.raises(tasks.DataError, match="has no label"):
        tasks.text_pairs("sst2", examples)
