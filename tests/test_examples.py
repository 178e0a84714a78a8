"""The scripts in `examples/` run (quickstart end to end, on the slow set)."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def example(name):
    return os.path.join(ROOT, "examples", name)


def test_glue_example_checks_the_data_before_building_anything(tmp_path):
    command = [sys.executable, example("glue.py"), "--task", "rte"]
    command += ["--data-dir", str(tmp_path / "RTE")]
    out = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2, out.stderr[-3000:]
    assert "RTE" in out.stderr and "error" in out.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_quickstart_runs_from_preset_to_saved_model(tmp_path):
    out = subprocess.run(
        [sys.executable, example("quickstart.py")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "quickstart_adapter.npz").is_file()
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend in ("tensorflow", "jax"):
        assert (tmp_path / "quickstart_saved_model" / "saved_model.pb").is_file()
