"""Adapter files, full-model `.keras` saving and `disabled()`."""

import json
import os
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest
from t5_cases import (
    CASES,
    adapted_lm,
    batch,
    method_params,
    numpy_of,
    perturb_trained,
    tiny_lm,
)

import keras_compacter as kc
from keras_compacter.api import adaptations

METHODS = list(CASES)


def logits(model, x):
    return numpy_of(model(x))


@pytest.mark.parametrize("method", method_params())
def test_adapter_round_trip_into_a_plain_base_model(method, tmp_path):
    x, _ = batch()
    lm = adapted_lm(method)
    want = logits(lm, x)
    header = kc.save_adapter(lm, tmp_path / "a.npz")
    assert header["method"]["method"] == method
    fresh = tiny_lm(CASES[method][0])  # same seed: the same base weights
    kc.load_adapter(fresh, tmp_path / "a.npz")
    assert kc.injected_method(fresh).name == method
    np.testing.assert_allclose(logits(fresh, x), want, rtol=0, atol=1e-6)


def test_adapter_file_holds_only_what_trains(tmp_path):
    lm = adapted_lm("compacter++")
    kc.save_adapter(lm, tmp_path / "a.npz")
    with np.load(tmp_path / "a.npz", allow_pickle=False) as archive:
        stored = sum(archive[n].size for n in archive.files if n != "__header__")
    assert stored == kc.summary(lm, print_fn=None)["trainable"]


def test_switching_tasks_replaces_the_weights(tmp_path):
    x, _ = batch()
    task_a = adapted_lm("compacter")
    kc.save_adapter(task_a, tmp_path / "a.npz")
    model = tiny_lm(128)
    kc.inject(model, "compacter")
    kc.load_adapter(model, tmp_path / "a.npz")
    np.testing.assert_allclose(logits(model, x), logits(task_a, x), atol=1e-6)


def test_save_is_atomic(tmp_path, monkeypatch):
    lm = adapted_lm("compacter++")
    path = tmp_path / "a.npz"
    kc.save_adapter(lm, path)
    good = path.read_bytes()

    def crash(f, **arrays):
        f.write(b"partial")
        raise KeyboardInterrupt("crash mid-write")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        kc.save_adapter(lm, path)
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["a.npz"]  # no temporary left behind


# --- Files that do not fit leave the model untouched --------------------------


def snapshot(model):
    return [numpy_of(w).copy() for w in model.weights]


def assert_untouched(model, before, adapted_method=None):
    if adapted_method is None:
        assert adaptations(model) is None
    else:
        assert kc.injected_method(model).name == adapted_method
    after = snapshot(model)
    assert len(after) == len(before)
    for a, b in zip(after, before):
        np.testing.assert_array_equal(a, b)


@pytest.fixture
def compacter_file(tmp_path):
    kc.save_adapter(adapted_lm("compacter"), tmp_path / "c.npz")
    return tmp_path / "c.npz"


def test_wrong_architecture(compacter_file):
    model = tiny_lm(64)
    before = snapshot(model)
    with pytest.raises(kc.AdapterFileError, match="hidden_dim: file 128, model 64"):
        kc.load_adapter(model, compacter_file)
    assert_untouched(model, before)


def test_other_method(compacter_file):
    model = tiny_lm(128)
    kc.inject(model, "compacter++")
    before = snapshot(model)
    with pytest.raises(kc.AdapterFileError, match="placement"):
        kc.load_adapter(model, compacter_file)
    assert_untouched(model, before, "compacter++")


def test_other_settings(compacter_file):
    model = tiny_lm(128)
    kc.inject(model, "compacter", reduction_factor=16)
    before = snapshot(model)
    with pytest.raises(kc.AdapterFileError, match="reduction_factor: file 32"):
        kc.load_adapter(model, compacter_file)
    assert_untouched(model, before, "compacter")


def test_missing_file(tmp_path):
    model = tiny_lm(128)
    before = snapshot(model)
    with pytest.raises(kc.AdapterFileError, match="No adapter file"):
        kc.load_adapter(model, tmp_path / "nope.npz")
    assert_untouched(model, before)


def test_truncated_file(compacter_file):
    data = compacter_file.read_bytes()
    compacter_file.write_bytes(data[: len(data) // 2])
    model = tiny_lm(128)
    before = snapshot(model)
    with pytest.raises(kc.AdapterFileError, match="truncated or foreign"):
        kc.load_adapter(model, compacter_file)
    assert_untouched(model, before)


def test_foreign_files(tmp_path):
    model = tiny_lm(128)
    before = snapshot(model)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(kc.AdapterFileError, match="truncated or foreign"):
        kc.load_adapter(model, text)
    plain = tmp_path / "plain.npz"
    np.savez(plain, w=np.zeros(3))
    with pytest.raises(kc.AdapterFileError, match="no header"):
        kc.load_adapter(model, plain)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, __header__=np.array([{"format": "x"}], dtype=object))
    with pytest.raises(kc.AdapterFileError):
        kc.load_adapter(model, pickled)  # object arrays are never unpickled
    assert_untouched(model, before)


def test_damaged_array_shape(compacter_file, tmp_path):
    # Rewrite one array with a wrong shape, keeping the header.
    with np.load(compacter_file, allow_pickle=False) as archive:
        arrays = {n: archive[n] for n in archive.files}
    header = json.loads(arrays["__header__"].tobytes())
    name = header["weights"][0]["array"]
    arrays[name] = np.zeros((3,), "float32")
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    model = tiny_lm(128)
    before = snapshot(model)
    with pytest.raises(kc.AdapterFileError, match="damaged"):
        kc.load_adapter(model, bad)
    assert_untouched(model, before)
    assert zipfile.is_zipfile(bad)


# --- Full model and disabled() ---------------------------------------------


@pytest.mark.parametrize("method", method_params())
def test_keras_file_round_trip(method, tmp_path):
    x, _ = batch()
    lm = adapted_lm(method)
    want = logits(lm, x)
    lm.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert kc.injected_method(loaded).name == method
    np.testing.assert_allclose(logits(loaded, x), want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("method", method_params([m for m in METHODS if m != "full"]))
def test_disabled_computes_as_the_base_model(method):
    x, _ = batch()
    hidden, settings = CASES[method]
    base = logits(tiny_lm(hidden), x)
    lm = adapted_lm(method)
    adapted = logits(lm, x)
    assert np.abs(adapted - base).max() > 1e-4
    with kc.disabled(lm):
        np.testing.assert_allclose(logits(lm, x), base, rtol=0, atol=1e-6)
    np.testing.assert_allclose(logits(lm, x), adapted, rtol=0, atol=1e-6)


# --- Across backends -----------------------------------------------------------

OTHER_BACKEND_SCRIPT = """
import sys, json, numpy as np
sys.path.insert(0, {tests!r})
import keras_compacter as kc
from t5_cases import CASES, batch, tiny_lm, numpy_of
x, _ = batch()
worst = {{}}
for method in CASES:
    folder = {folder!r} + "/" + method
    model = tiny_lm(CASES[method][0])
    with np.load(folder + ".base.npz") as base:
        model.set_weights([base[f"w{{i}}"] for i in range(len(base.files))])
    kc.load_adapter(model, folder + ".npz")
    want = np.load(folder + ".logits.npy")
    worst[method] = float(np.abs(numpy_of(model(x)) - want).max())
print(json.dumps(worst))
"""


@pytest.mark.slow
def test_adapter_files_load_on_the_other_backends(tmp_path):
    """Saved here, loaded under the two other backends: the same logits.

    Random initialisation differs between backends, so the base weights
    travel too (as plain arrays), and the comparison isolates the adapter.
    """
    x, _ = batch()
    for method in METHODS:
        lm = tiny_lm(CASES[method][0])
        base = {f"w{i}": numpy_of(w) for i, w in enumerate(lm.weights)}
        np.savez(tmp_path / f"{method}.base.npz", **base)
        kc.inject(lm, method, **CASES[method][1])
        perturb_trained(lm)
        kc.save_adapter(lm, tmp_path / f"{method}.npz")
        np.save(tmp_path / f"{method}.logits.npy", logits(lm, x))
    here = keras.config.backend()
    for backend in ("tensorflow", "jax", "torch"):
        if backend == here:
            continue
        script = OTHER_BACKEND_SCRIPT.format(
            tests=os.path.dirname(os.path.abspath(__file__)), folder=str(tmp_path)
        )
        env = dict(os.environ, KERAS_BACKEND=backend)
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr[-3000:]
        worst = json.loads(out.stdout.strip().splitlines()[-1])
        assert max(worst.values()) < 1e-5, (backend, worst)


def test_disabled_refuses_full_fine_tuning():
    lm = adapted_lm("full")
    with pytest.raises(ValueError, match="no base model to switch to"):
        with kc.disabled(lm):
            pass


@pytest.mark.slow
def test_compacter_plus_plus_file_for_t5_base_is_under_one_megabyte(tmp_path):
    import keras_hub

    lm = keras_hub.models.T5Seq2SeqLM(backbone=kc.t5_backbone("t5_base_multi"))
    kc.inject(lm, "compacter++")
    kc.save_adapter(lm, tmp_path / "a.npz")
    size = os.path.getsize(tmp_path / "a.npz")
    # 104,704 float32 values (PAPER.md's count) plus the header.
    assert 4 * 104_704 < size < 2**20
