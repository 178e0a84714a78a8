"""Text-to-text formats against strings written from the paper's templates
(``seq2seq/data/tasks.py`` of rabeehk/compacter: ``" ".join(src_texts)``,
``str(label)``; ``add_prefix`` puts the task name first)."""

import ast
import pathlib

import pytest

from keras_compacter import tasks

CASES = [
    (
        "cola",
        {"sentence": "They drank the pub.", "label": 0},
        "sentence: They drank the pub.",
        "0",
        "cola",
    ),
    (
        "sst2",
        {"sentence": "a charming journey .", "label": 1},
        "sentence: a charming journey .",
        "1",
        "sst2",
    ),
    (
        "mrpc",
        {"sentence1": "A b.", "sentence2": "C d.", "label": 1},
        "sentence1: A b. sentence2: C d.",
        "1",
        "mrpc",
    ),
    (
        "qqp",
        {"question1": "Why?", "question2": "How?", "label": 0},
        "question1: Why? question2: How?",
        "0",
        "qqp",
    ),
    (
        "stsb",
        {"sentence1": "A man plays.", "sentence2": "A man sings.", "label": 3.8},
        "sentence1: A man plays. sentence2: A man sings.",
        "3.8",
        "stsb",
    ),
    (
        "mnli",
        {"premise": "P.", "hypothesis": "H.", "label": 2},
        # the paper's code has no colon after "hypothesis"
        "premise: P. hypothesis H.",
        "2",
        "mnli",
    ),
    (
        "qnli",
        {"question": "Who?", "sentence": "Him.", "label": 1},
        "question: Who? sentence: Him.",
        "1",
        "qnli",
    ),
    (
        "rte",
        {"sentence1": "S1.", "sentence2": "S2.", "label": 0},
        "sentence1: S1. sentence2: S2.",
        "0",
        "rte",
    ),
    (
        "wnli",
        {"sentence1": "S1.", "sentence2": "S2.", "label": 1},
        "sentence1: S1. sentence2: S2.",
        "1",
        "wnli",
    ),
    (
        "boolq",
        {"question": "is it", "passage": "It is.", "label": 1},
        "question: is it passage: It is.",
        "1",
        "superglue-boolq",
    ),
    (
        "cb",
        {"premise": "P.", "hypothesis": "H.", "label": 2},
        "premise: P. hypothesis: H.",
        "2",
        "superglue-cb",
    ),
    (
        "copa",
        {
            "premise": "The man fell.",
            "choice1": "He slipped.",
            "choice2": "He sang.",
            "question": "cause",
            "label": 0,
        },
        # the paper's code does not use the "question" (cause/effect) field
        "premise: The man fell. choice1: He slipped. choice2: He sang.",
        "0",
        "superglue-copa",
    ),
    (
        "multirc",
        {
            "paragraph": "<b>Sent 1: </b>Hi there.<br><b>Sent 2: </b>Bye.",
            "question": "Who?",
            "answer": "Me",
            "label": 1,
            "idx": {"paragraph": 0, "question": 0, "answer": 0},
        },
        "question: Who? answer: Me paragraph: Sent 1: Hi there. Sent 2: Bye.",
        "1",
        "superglue-multirc",
    ),
    (
        "wic",
        {
            "sentence1": "Go to bed.",
            "sentence2": "The river bed.",
            "word": "bed",
            "label": 0,
        },
        "sentence1: Go to bed. sentence2: The river bed. word: bed",
        "0",
        "superglue-wic",
    ),
]


@pytest.mark.parametrize("name, example, source, target, prefix", CASES)
def test_to_text_matches_paper_template(name, example, source, target, prefix):
    task = tasks.get_task(name)
    assert task.to_text(example) == (source, target)
    assert task.to_text(example, add_prefix=True) == (f"{prefix} {source}", target)


def test_names_cover_the_paper_tasks():
    assert tasks.names() == [
        "cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli",
        "boolq", "cb", "copa", "multirc", "record", "wic",
    ]  # fmt: skip
    assert tasks.get_task("SST-2").name == "sst2"
    assert tasks.get_task("superglue-boolq").name == "boolq"
    assert tasks.get_task(tasks.get_task("cb")).name == "cb"


def test_labels_are_hf_class_indices():
    assert tasks.get_task("mnli").labels == ("0", "1", "2")
    assert tasks.get_task("mnli").label_names == (
        "entailment",
        "neutral",
        "contradiction",
    )
    assert tasks.get_task("cb").label_names == (
        "entailment",
        "contradiction",
        "neutral",
    )
    assert tasks.get_task("wnli").label_names == ("not_entailment", "entailment")
    assert tasks.get_task("rte").label_names == ("entailment", "not_entailment")
    assert tasks.get_task("stsb").labels is None
    assert tasks.get_task("stsb").labels_list[:2] == ("0.0", "0.2")
    assert tasks.get_task("cb").labels_list == ("0", "1", "2")
    assert tasks.get_task("record").labels is None


@pytest.mark.parametrize(
    "score, target",
    [
        (3.8, "3.8"),
        (5.0, "5.0"),
        (0.0, "0.0"),
        (2.75, "2.8"),
        (1.25, "1.2"),
        (4.333, "4.3"),
    ],
)
def test_stsb_target_is_rounded_to_one_decimal(score, target):
    # round_stsb_target: np.round((label * 5) / 5, decimals=1) (half to even)
    example = {"sentence1": "a", "sentence2": "b", "label": score}
    assert tasks.get_task("stsb").to_text(example)[1] == target


def test_stsb_grid_of_the_paper():
    from keras_compacter.tasks.glue import STSB_GRID

    assert STSB_GRID[:3] == ("0.0", "0.2", "0.4") and STSB_GRID[-1] == "5.0"
    assert len(STSB_GRID) == 26


def test_record_source_highlights_and_one_pair_per_answer():
    record = tasks.get_task("record")
    example = {
        "passage": "The cat sat.\n@highlight\nCats are great\n@highlight\nDogs too",
        "query": "@placeholder is great",
        "entities": ["Cats", "Dogs"],
        "answers": ["Cats", "cats"],
        "idx": {"passage": 0, "query": 0},
    }
    source = (
        "record query: @placeholder is great entities: Cats, Dogs passage: "
        "The cat sat. Cats are great. Dogs too"
    )
    assert record.to_text(example) == (source, "Cats")
    assert record.to_text(example, add_prefix=True)[0] == "superglue-record " + source
    sources, targets = tasks.text_pairs(record, [example])
    assert sources == [source, source]
    assert targets == ["Cats", "cats"]
    assert targets.references == [["Cats", "cats"], ["Cats", "cats"]]
    # scored against all answers: "cats" matches either
    assert record.score(["cats", "dog"], targets) == {"f1": 50.0, "em": 50.0}


def test_multirc_text_pairs_carry_question_groups_for_em():
    multirc = tasks.get_task("multirc")
    examples = [
        {"paragraph": "P", "question": "Q1", "answer": a, "label": lab,
         "idx": {"paragraph": 0, "question": q, "answer": i}}
        for i, (a, lab, q) in enumerate([("a", 1, 0), ("b", 0, 0), ("c", 1, 1)])
    ]  # fmt: skip
    sources, targets = tasks.text_pairs(multirc, examples, add_prefix=True)
    assert sources[0] == "superglue-multirc question: Q1 answer: a paragraph: P"
    assert targets.references == [(0, 0), (0, 0), (0, 1)]
    out = multirc.score(["1", "1", "1"], targets)
    assert out["em"] == pytest.approx(50.0)  # question 0 wrong, question 1 right
    assert out["f1"] == pytest.approx(80.0)
    with pytest.warns(UserWarning, match="references"):
        multirc.score(["1", "1", "1"], list(targets))


def test_unlabeled_example_has_no_target():
    assert tasks.get_task("sst2").to_text({"sentence": "x", "label": -1}) == (
        "sentence: x",
        None,
    )
    sources, targets = tasks.text_pairs(
        "sst2", [{"sentence": "x", "label": -1}], require_targets=False
    )
    assert sources == ["sentence: x"] and targets == [None]


def test_custom_task_format():
    task = tasks.custom_task(["question", "context"], "answer", name="qa")
    example = {"question": "Who?", "context": "Me.", "label": "me"}
    assert task.to_text(example) == ("question: Who? context: Me.", "me")
    assert task.to_text(example, add_prefix=True)[0] == "qa question: Who? context: Me."
    assert task.metric_names == ("accuracy",) and task.labels is None


def test_task_layer_does_not_import_a_backend():
    package = pathlib.Path(tasks.__file__).parent
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module or ""]
            else:
                continue
            for mod in mods:
                root = mod.split(".")[0]
                assert root not in {"keras", "tensorflow", "jax", "torch"}, (path, mod)
                assert root not in {"scipy", "sklearn"}, (path, mod)
