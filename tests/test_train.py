"""`keras-compacter train`, `evaluate` and `predict` on a tiny preset.

Bad input must fail with a clear message before any model is built (and
before the output folder exists); a real run writes the adapter, the metrics
per epoch, the summary and `run.json`, which `evaluate`/`predict` reuse.
"""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import pytest

import keras_compacter as kc
from keras_compacter import cli
from keras_compacter.testing import save_tiny_preset

ROWS = [
    ("the quick brown fox jumped over the lazy dog", 1),
    ("the earth is round and the sky is blue", 1),
    ("all that glitters is not gold", 0),
    ("a stitch in time saves nine", 0),
    ("this movie is a delight from start to finish", 1),
    ("nobody came to the party", 0),
]
TINY_COMPACTER = ["--method", "compacter++", "--set", "bottleneck_dim=4"]
TINY_COMPACTER += ["--set", "phm_dim=2"]


def write_tsv(path, header, rows):
    with open(path, "w") as f:
        f.write("\t".join(header) + "\n")
        for row in rows:
            f.write("\t".join(str(v) for v in row) + "\n")
    return str(path)


@pytest.fixture
def sst2(tmp_path):
    folder = tmp_path / "SST-2"
    folder.mkdir()
    write_tsv(folder / "train.tsv", ["sentence", "label"], ROWS)
    write_tsv(folder / "dev.tsv", ["sentence", "label"], ROWS[:4])
    return str(folder)


def run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def fails_early(argv, capsys, tmp_path, *needles):
    output = str(tmp_path / "out")
    code, out, err = run([*argv, "--output", output], capsys)
    assert code == 2, (out, err)
    for needle in needles:
        assert needle in err, err
    assert not os.path.exists(output), "the run started before the error"
    return err


def test_unknown_task_lists_the_valid_ones(capsys, tmp_path, sst2):
    fails_early(
        ["train", "--task", "nosuch", "--data-dir", sst2],
        capsys,
        tmp_path,
        "nosuch",
        "sst2",
        "rte",
    )


def test_task_without_data_says_where_to_put_it(capsys, tmp_path):
    fails_early(["train", "--task", "sst2"], capsys, tmp_path, "--data-dir")


def test_missing_data_folder_names_the_file(capsys, tmp_path):
    missing = str(tmp_path / "nowhere")
    fails_early(
        ["train", "--task", "sst2", "--data-dir", missing],
        capsys,
        tmp_path,
        "nowhere",
    )


def test_unknown_label_names_the_label(capsys, tmp_path, sst2):
    write_tsv(os.path.join(sst2, "dev.tsv"), ["sentence", "label"], [("x y", 7)])
    fails_early(["train", "--task", "sst2", "--data-dir", sst2], capsys, tmp_path, "7")


def test_empty_split(capsys, tmp_path, sst2):
    write_tsv(os.path.join(sst2, "dev.tsv"), ["sentence", "label"], [])
    err = fails_early(["train", "--task", "sst2", "--data-dir", sst2], capsys, tmp_path)
    assert "empty" in err.lower() or "no examples" in err.lower(), err


def test_malformed_row_names_file_and_line(capsys, tmp_path, sst2):
    with open(os.path.join(sst2, "train.tsv"), "a") as f:
        f.write("one\ttwo\tthree\n")
    fails_early(
        ["train", "--task", "sst2", "--data-dir", sst2],
        capsys,
        tmp_path,
        "train.tsv",
    )


def test_unknown_column_lists_the_columns(capsys, tmp_path, sst2):
    train = os.path.join(sst2, "train.tsv")
    fails_early(
        ["train", "--train-file", train, "--validation-file", train]
        + ["--input-columns", "text", "--target-column", "label"],
        capsys,
        tmp_path,
        "text",
        "sentence",
    )


def test_custom_columns_need_both(capsys, tmp_path, sst2):
    train = os.path.join(sst2, "train.tsv")
    fails_early(
        ["train", "--train-file", train, "--input-columns", "sentence"],
        capsys,
        tmp_path,
        "--target-column",
    )


def test_files_without_a_task(capsys, tmp_path, sst2):
    fails_early(["train", "--data-dir", sst2], capsys, tmp_path, "--task")


def test_unknown_method_lists_the_methods(capsys, tmp_path, sst2):
    fails_early(
        ["train", "--task", "sst2", "--data-dir", sst2, "--method", "compactor"],
        capsys,
        tmp_path,
        "compactor",
        "compacter++",
        "bitfit",
    )


def test_bad_method_settings(capsys, tmp_path, sst2):
    data = ["train", "--task", "sst2", "--data-dir", sst2]
    fails_early([*data, "--set", "phm_dim"], capsys, tmp_path, "KEY=VALUE")
    fails_early([*data, "--set", "phm_dims=4"], capsys, tmp_path, "phm_dims", "phm_dim")


def test_evaluate_needs_a_run_folder(capsys, tmp_path):
    code, _, err = run(["evaluate", "--run", str(tmp_path)], capsys)
    assert code == 2 and "run.json" in err


def test_evaluate_rejects_a_truncated_adapter(capsys, tmp_path, sst2):
    adapter = tmp_path / "adapter.npz"
    adapter.write_bytes(b"PK\x03\x04 truncated")
    code, _, err = run(
        ["evaluate", "--adapter", str(adapter), "--task", "sst2"]
        + ["--data-dir", sst2],
        capsys,
    )
    assert code == 2 and "adapter.npz" in err and "truncated" in err, err


def test_predict_needs_inputs(capsys, tmp_path):
    code, _, err = run(["predict", "--adapter", str(tmp_path / "a.npz")], capsys)
    assert code == 2 and "--text" in err


def test_train_evaluate_predict(capsys, tmp_path, sst2):
    preset = str(tmp_path / "preset")
    save_tiny_preset(preset, seed=0)
    output = str(tmp_path / "run")
    code, out, err = run(
        ["train", "--preset", preset, "--task", "sst2", "--data-dir", sst2]
        + TINY_COMPACTER
        + ["--epochs", "2", "--batch-size", "3", "--max-source-length", "16"]
        + ["--output", output, "--verbose", "0"],
        capsys,
    )
    assert code == 0, err[-3000:]
    for name in ("adapter.npz", "metrics.json", "summary.json", "run.json"):
        assert os.path.isfile(os.path.join(output, name)), name
    with open(os.path.join(output, "metrics.json")) as f:
        metrics = json.load(f)
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]
    assert set(metrics["epochs"][0]["validation"]) == {"accuracy"}
    assert metrics["best"]["score"] == max(e["score"] for e in metrics["epochs"])
    assert metrics["majority"]["score"] == 50.0  # dev is 2 and 2
    header, _ = kc.read_adapter(os.path.join(output, "adapter.npz"))
    assert header["method"]["method"] == "compacter++"
    assert header["method"]["bottleneck_dim"] == 4
    with open(os.path.join(output, "run.json")) as f:
        assert json.load(f)["task"] == "sst2"

    code, out, err = run(["evaluate", "--run", output], capsys)
    assert code == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["examples"] == 4
    assert result["score"] == metrics["best"]["score"]

    code, out, err = run(
        ["predict", "--run", output, "--text", "sst2 sentence: the sky is blue"],
        capsys,
    )
    assert code == 0, err[-3000:]
    line = json.loads(out.strip().splitlines()[-1])
    assert line["input"] == "sst2 sentence: the sky is blue"
    assert isinstance(line["prediction"], str)


@pytest.mark.slow
def test_interrupting_training_keeps_the_best_adapter(tmp_path, sst2):
    preset = str(tmp_path / "preset")
    save_tiny_preset(preset, seed=0)
    output = tmp_path / "run"
    command = [sys.executable, "-m", "keras_compacter.cli", "train"]
    command += ["--preset", preset, "--task", "sst2", "--data-dir", sst2]
    command += [*TINY_COMPACTER, "--epochs", "500", "--batch-size", "3"]
    command += ["--max-source-length", "16", "--output", str(output)]
    command += ["--verbose", "0"]
    # A shell without job control (`cmd &`, nohup, some CI runners) starts its
    # background jobs with SIGINT ignored, and a Python started that way never
    # raises KeyboardInterrupt: give the child the default disposition back.
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    adapter = output / "adapter.npz"
    deadline = time.time() + 600
    while not adapter.exists() and time.time() < deadline:
        assert process.poll() is None, "training stopped by itself"
        time.sleep(0.5)
    assert adapter.exists()
    time.sleep(2.0)  # well inside later epochs, maybe inside a save
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 130, out[-3000:]
    assert "intact" in out
    kc.read_adapter(adapter)  # complete and readable
    assert not [p for p in os.listdir(output) if p.startswith(".")]


@pytest.mark.skipif(keras.config.backend() != "torch", reason="torch's refusal")
def test_data_parallel_on_torch_says_what_to_use(capsys, tmp_path, sst2):
    fails_early(
        ["train", "--task", "sst2", "--data-dir", sst2, "--data-parallel"],
        capsys,
        tmp_path,
        "KERAS_BACKEND=jax",
    )


@pytest.mark.slow
@pytest.mark.skipif(keras.config.backend() != "jax", reason="2 virtual JAX devices")
def test_data_parallel_train_on_two_devices(tmp_path, sst2):
    preset = str(tmp_path / "preset")
    save_tiny_preset(preset, seed=0)
    output = tmp_path / "run"
    command = [sys.executable, "-m", "keras_compacter.cli", "train"]
    command += ["--preset", preset, "--task", "sst2", "--data-dir", sst2]
    command += [*TINY_COMPACTER, "--epochs", "1", "--batch-size", "4"]
    command += ["--max-source-length", "16", "--output", str(output)]
    command += ["--verbose", "0", "--data-parallel"]
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    out = subprocess.run(command, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Data parallel over 2 devices" in out.stdout
    # 6 examples, global batch 4: the last batch of 2 splits over 2 devices.
    assert "6 of 6 examples per epoch" in out.stdout
    kc.read_adapter(output / "adapter.npz")
    bad = subprocess.run(
        command[:-1] + ["--data-parallel", "--batch-size", "3"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode == 2 and "multiple of 2" in bad.stderr, bad.stderr


def test_method_that_does_not_fit_the_model(capsys, tmp_path, sst2):
    preset = str(tmp_path / "preset")
    save_tiny_preset(preset, seed=0)  # hidden 16: phm_dim=12 cannot divide it
    fails_early(
        ["train", "--preset", preset, "--task", "sst2", "--data-dir", sst2]
        + ["--method", "phm-adapter"],
        capsys,
        tmp_path,
        "phm-adapter does not fit",
        "--set",
    )
