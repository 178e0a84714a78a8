"""Loading by name through (fake) Hugging Face datasets / tensorflow_datasets,
and the paper's split protocol."""

import sys
import types

import numpy as np
import pytest

from keras_compacter import tasks


class FakeDataset(list):
    def __init__(self, rows):
        super().__init__(rows)
        self.column_names = list(rows[0]) if rows else []


def test_hf_source_uses_glue_names_and_splits(monkeypatch):
    calls = []

    def load_dataset(path, name, split):
        calls.append((path, name, split))
        return FakeDataset([{"premise": "P", "hypothesis": "H", "label": 1, "idx": 0}])

    monkeypatch.setitem(
        sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset)
    )
    mnli = tasks.get_task("mnli")
    examples = mnli.load("validation", source="hf")
    assert calls == [("glue", "mnli", "validation_matched")]
    assert mnli.to_text(examples[0]) == ("premise: P hypothesis H", "1")


def test_hf_source_falls_back_to_hub_mirror(monkeypatch):
    calls = []

    def load_dataset(path, name, split):
        calls.append(path)
        if path == "super_glue":
            raise RuntimeError("Dataset scripts are no longer supported")
        return FakeDataset(
            [{"question": "q", "passage": "p", "idx": 0, "label": 1},
             {"question": "q2", "passage": "p2", "idx": 1, "label": -1}]
        )  # fmt: skip

    monkeypatch.setitem(
        sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset)
    )
    examples = tasks.get_task("boolq").load("test", source="hf")
    assert calls == ["super_glue", "aps/super_glue"]
    assert [e["label"] for e in examples] == [1, -1]


def test_tfds_source_decodes_bytes(monkeypatch):
    rows = [
        {
            "paragraph": b"P<br>",
            "question": b"Q",
            "answer": b"A",
            "label": np.int64(1),
            "idx": {
                "paragraph": np.int32(0),
                "question": np.int32(4),
                "answer": np.int32(0),
            },
        }
    ]
    names = []

    def load(name, split, shuffle_files):
        names.append((name, split))
        return rows

    fake = types.SimpleNamespace(load=load, as_numpy=lambda d: d)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    multirc = tasks.get_task("multirc")
    examples = multirc.load("validation", source="tfds")
    assert names == [("super_glue/multirc", "validation")]
    assert multirc.to_text(examples[0]) == ("question: Q answer: A paragraph: P ", "1")
    sources, targets = tasks.text_pairs(multirc, examples)
    assert targets.references == [(0, 4)]


TORCH_PERMS = {
    (10, 42): [2, 6, 1, 8, 4, 5, 0, 9, 3, 7],
    (7, 0): [4, 0, 5, 3, 2, 6, 1],
    (5, 123): [2, 0, 1, 3, 4],
}


@pytest.mark.parametrize("n, seed", sorted(TORCH_PERMS))
def test_randperm_reproduces_torch_values(n, seed):
    # values printed by torch 2.13: torch.randperm(n, generator=g.manual_seed(seed))
    assert tasks.randperm(n, seed) == TORCH_PERMS[(n, seed)]


# torch 2.13: head, tail and sum(i * perm[i]) of longer permutations
TORCH_LONG = {
    (1000, 7): (
        [615, 284, 599, 580, 347, 92, 383, 891],
        [594, 570, 477, 409],
        251046965,
    ),
    (4077, 42): (
        [114, 684, 2403, 4075, 2425, 3764, 3523, 3131],
        [2064, 1830, 2301, 1551],
        16979982137,
    ),
}


@pytest.mark.parametrize("n, seed", sorted(TORCH_LONG))
def test_randperm_reproduces_long_torch_permutations(n, seed):
    head, tail, checksum = TORCH_LONG[(n, seed)]
    perm = tasks.randperm(n, seed)
    assert sorted(perm) == list(range(n))
    assert perm[:8] == head and perm[-4:] == tail
    assert sum(i * v for i, v in enumerate(perm)) == checksum


@pytest.mark.skipif("torch" not in sys.modules, reason="only when torch is loaded")
def test_randperm_matches_loaded_torch():
    torch = sys.modules["torch"]
    for n, seed in [(1, 42), (2, 42), (277, 42), (1000, 7)]:
        generator = torch.Generator()
        generator.manual_seed(seed)
        assert (
            tasks.randperm(n, seed) == torch.randperm(n, generator=generator).tolist()
        )


def test_paper_splits_small_task_halves_validation():
    train = [{"i": i} for i in range(5)]
    validation = [{"v": i} for i in range(10)]
    new_train, new_validation, test = tasks.paper_splits("rte", train, validation)
    order = TORCH_PERMS[(10, 42)]
    assert new_train == train
    assert new_validation == [validation[i] for i in order[:5]]
    assert test == [validation[i] for i in order[5:]]
    _, v, t = tasks.paper_splits("cb", train, validation[:7], seed=0)
    assert len(v) == 3 and len(t) == 4


def test_paper_splits_large_task_takes_1000_training_examples():
    train = list(range(1200))
    validation = ["v1", "v2"]
    new_train, new_validation, test = tasks.paper_splits("sst2", train, validation)
    assert len(new_validation) == 1000 and len(new_train) == 200
    assert sorted(new_train + new_validation) == train
    assert new_validation == [train[i] for i in tasks.randperm(1200, 42)[:1000]]
    assert test == validation


def test_paper_splits_mnli_keeps_the_given_sets():
    train, matched, mismatched = [1, 2], ["m"], ["mm"]
    assert tasks.paper_splits("mnli", train, mismatched, test_examples=matched) == (
        train,
        mismatched,
        matched,
    )
    assert tasks.paper_splits("mnli", train, matched) == (train, matched, matched)


def test_paper_split_lists():
    small = {n for n in tasks.names() if tasks.get_task(n).paper_split == "small"}
    large = {n for n in tasks.names() if tasks.get_task(n).paper_split == "large"}
    assert small == {
        "cola",
        "stsb",
        "mrpc",
        "rte",
        "wnli",
        "boolq",
        "cb",
        "copa",
        "multirc",
        "wic",
    }
    assert large == {"sst2", "qqp", "qnli", "record"}


def test_subsample_is_the_papers_shuffled_prefix():
    examples = list(range(10))
    assert tasks.subsample(examples, 3) == TORCH_PERMS[(10, 42)][:3]
    assert tasks.subsample(examples, None) == examples
    assert sorted(tasks.subsample(examples, 50)) == examples
