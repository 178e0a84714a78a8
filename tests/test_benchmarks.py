"""The benchmark harness runs end to end on the tiny workload (no timings checked).

One training configuration per method, each in its own process, on the
current `KERAS_BACKEND`; the JSON and the markdown table must be written and
well formed. The plot is checked only where matplotlib is installed.
"""

import importlib.util
import json
import os
import subprocess
import sys

import keras

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHODS = ("full", "compacter++")


def test_harness_runs_on_the_tiny_workload(tmp_path):
    backend = keras.config.backend()
    plot = importlib.util.find_spec("matplotlib") is not None
    command = [
        sys.executable,
        os.path.join(ROOT, "benchmarks", "run.py"),
        "--backend",
        backend,
        "--workload",
        "tiny",
        "--methods",
        *METHODS,
        "--steps",
        "1",
        "--no-latency",
        "--no-micro",
        "--threads",
        "1",
        "--output",
        str(tmp_path),
    ]
    if not plot:
        command.append("--no-plot")
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    with open(tmp_path / "tiny.json") as f:
        results = json.load(f)
    run = results["runs"][backend]
    assert not run["errors"]
    for method in METHODS:
        record = run["train"][method]
        assert record["backend"] == backend
        assert record["method"] == method
        assert len(record["step_times_s"]) == 1
        assert record["step_s"] > 0
        assert record["peak_rss_bytes"] > 0
        assert record["rss_baseline_bytes"] > 0
        assert record["flops"]["step"] > record["flops"]["forward"] > 0
        assert all(map(lambda x: x == x, record["losses"]))  # no NaN
        if backend == "jax":  # XLA's accounting of the compiled step.
            xla = record["xla_memory"]
            assert xla["total"] >= xla["argument"] > 0
            assert xla["temp"] > 0
    # Compacter++ trains a small fraction and skips the weight gradients.
    adapted, full = run["train"]["compacter++"], run["train"]["full"]
    assert adapted["trainable"] < full["trainable"]
    assert adapted["flops"]["step"] < full["flops"]["step"]

    table = (tmp_path / "tiny.md").read_text()
    assert f"## {backend}" in table
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    for method in METHODS:
        row = next(r for r in rows if r.startswith(f"| {method} |"))
        assert row.count("|") == 18  # 17 columns
    assert "## Targets (Compacter++)" in table
    if plot:
        assert (tmp_path / "tiny.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
