"""Measure every method on the offline default task, the way `train` runs it.

For each method of `kc.methods()` this runs `keras-compacter train --method M`
on the shipped default (tiny WordNet T5, WordNet supersense task) in its own
subprocess, with the default run's epochs and learning rate
(`keras_compacter.default.EPOCHS` / `LEARNING_RATES`, passed explicitly so
that the numbers do not depend on how `train` picks its defaults), and writes

* `examples/results/offline_default.json`: every run (command, wall time,
  per-epoch metrics, trained parameters), the machine and the date;
* `examples/results/offline_default.md`: a markdown table (method, trained %,
  best validation accuracy, majority baseline, training seconds).

Usage (about 2-3 minutes per method on 2 CPU cores)::

    KERAS_BACKEND=jax python examples/compare_methods.py
    KERAS_BACKEND=jax python examples/compare_methods.py --method full \\
        --method compacter++ --output-dir /tmp/compare
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPU cores, {platform.system()}"


def best_score(best):
    # `train` writes `best.score` (newer) or `best.validation_accuracy`.
    return best.get("score", best.get("validation_accuracy"))


def run_method(method, args, epochs, lr, run_dir):
    """Run `train` for one method in a subprocess; return its record."""
    command = [
        args.executable,
        "train",
        "--method",
        method,
        "--epochs",
        str(epochs),
        "--seed",
        str(args.seed),
        "--output",
        run_dir,
    ]
    if lr is not None:
        command += ["--lr", repr(lr)]
    env = dict(os.environ)
    env.setdefault("KERAS_BACKEND", "jax")
    print("$", " ".join(command), flush=True)
    load_before = os.getloadavg()[0]
    start = time.time()
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.time() - start
    log_path = os.path.join(run_dir, "train.log")
    os.makedirs(run_dir, exist_ok=True)
    with open(log_path, "w") as f:
        f.write(proc.stdout + "\n" + proc.stderr)
    record = dict(
        method=method,
        command=" ".join(command),
        returncode=proc.returncode,
        wall_seconds=round(wall, 1),
        load_average=[round(load_before, 2), round(os.getloadavg()[0], 2)],
        epochs=epochs,
        learning_rate=lr,
    )
    if proc.returncode != 0:
        record["error"] = (proc.stderr or proc.stdout)[-2000:]
        print(f"{method}: FAILED (exit {proc.returncode}), see {log_path}")
        return record
    read_run(run_dir, record, proc.stdout)
    print(
        f"{method}: best validation accuracy {record['best_validation_accuracy']:.1f}%"
        f" (majority {record['majority_baseline']:.1f}%), wall {wall:.0f} s",
        flush=True,
    )
    return record


def read_run(run_dir, record, stdout=""):
    """Add what `train` wrote in `run_dir` (metrics, summary) to `record`."""
    with open(os.path.join(run_dir, "metrics.json")) as f:
        metrics = json.load(f)
    best = metrics["best"]
    majority = metrics.get("majority")
    if isinstance(majority, dict):  # newer `train`: {target, metrics, score}
        majority = majority.get("score")
    epochs = metrics.get("epochs", [])
    record.update(
        best_validation_accuracy=best_score(best),
        best_epoch=best.get("epoch"),
        majority_baseline=majority,
        training_seconds=round(sum(e.get("seconds", 0.0) for e in epochs), 1),
        history=epochs,
    )
    summary_path = os.path.join(run_dir, "summary.json")
    if os.path.exists(summary_path):
        with open(summary_path) as f:
            summary = json.load(f)
        record.update(
            trained_parameters=summary.get("trainable"),
            total_parameters=summary.get("total"),
            trained_percent=summary.get("percent"),
        )
    else:
        m = re.search(r"training ([0-9.]+)% of the parameters", stdout)
        record["trained_percent"] = float(m.group(1)) if m else None
    return record


def collect(method, run_dir, epochs, lr):
    """The record of a run made earlier (its wall time was not kept)."""
    record = dict(method=method, run_dir=run_dir, wall_seconds=None)
    record.update(epochs=epochs, learning_rate=lr)
    if os.path.exists(os.path.join(run_dir, "metrics.json")):
        record["returncode"] = 0
        return read_run(run_dir, record)
    record["returncode"] = 1
    log_path = os.path.join(run_dir, "train.log")
    if os.path.exists(log_path):
        with open(log_path) as f:
            record["error"] = f.read()[-2000:]
    return record


def markdown(results, meta):
    lines = [
        "| method | trained % | best validation accuracy | majority class |"
        " epochs | lr | training s | wall s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        if r.get("returncode"):
            errors = [x for x in r.get("error", "").splitlines() if "Error" in x]
            why = errors[-1].strip() if errors else f"exit {r['returncode']}"
            lines.append(f"| {r['method']} | | failed: {why} | | | | | |")
            continue
        pct = r.get("trained_percent")
        lines.append(
            f"| {r['method']} | {'' if pct is None else f'{pct:.3f}'} |"
            f" {r['best_validation_accuracy']:.1f}% |"
            f" {r['majority_baseline']:.1f}% | {r['epochs']} |"
            f" {r['learning_rate']:g} | {r['training_seconds']:.0f} |"
            f" {'n/a' if r['wall_seconds'] is None else round(r['wall_seconds'])} |"
        )
    lines += [
        "",
        f"`keras-compacter train --method <method>` on the offline default"
        f" (`KERAS_BACKEND={meta['backend']}`, seed {meta['seed']}), measured"
        f" {meta['date']} on {meta['machine']}, {meta['jobs']} method(s) at a"
        " time. *Training s*: the sum of the per-epoch times `train` reports"
        " (fit + validation generation); *wall s*: the whole command, including"
        " start-up, loading and compilation. Times depend on what else runs on"
        " the machine (`load_average` per run in `offline_default.json`).",
        "",
    ]
    return "\n".join(lines)


def merge(paths, output_dir, order):
    """Write one table from several result files of this script."""
    by_method, metas = {}, []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        metas.append({k: v for k, v in data.items() if k != "results"})
        for r in data["results"]:
            if r["method"] not in by_method or not r.get("returncode"):
                by_method[r["method"]] = r
    results = [by_method[m] for m in order if m in by_method]
    meta = dict(metas[0])
    meta["date"] = " and ".join(dict.fromkeys(m["date"] for m in metas))
    meta["jobs"] = " + ".join(str(m.get("jobs", 1)) for m in metas)
    meta["merged_from"] = metas
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "offline_default.json"), "w") as f:
        json.dump(dict(meta, results=results), f, indent=1)
    with open(os.path.join(output_dir, "offline_default.md"), "w") as f:
        f.write(markdown(results, meta))
    print(markdown(results, meta))
    return 0


def main(argv=None):
    from keras_compacter import default

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--method", action="append", help="repeatable; default all")
    p.add_argument("--output-dir", default=os.path.join(HERE, "results"))
    p.add_argument(
        "--runs-dir",
        default=os.path.join(tempfile.gettempdir(), "keras_compacter_compare"),
        help="where each run's output folder (adapter, metrics, log) goes",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="methods run at once (1 for timings; more shares the CPU cores)",
    )
    p.add_argument(
        "--executable",
        default=os.path.join(os.path.dirname(sys.executable), "keras-compacter"),
    )
    p.add_argument(
        "--merge",
        nargs="+",
        metavar="JSON",
        help="combine the results of earlier runs of this script (later files"
        " win for a method that succeeded there) instead of running anything",
    )
    p.add_argument(
        "--collect",
        action="store_true",
        help="run nothing: tabulate the runs already in --runs-dir",
    )
    args = p.parse_args(argv)

    import keras_compacter as kc

    if args.merge:
        return merge(args.merge, args.output_dir, list(kc.methods()))

    methods = args.method or list(kc.methods())
    runs_dir = args.runs_dir
    os.makedirs(args.output_dir, exist_ok=True)
    meta = dict(
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=machine(),
        backend=os.environ.get("KERAS_BACKEND", "jax"),
        seed=args.seed,
        python=platform.python_version(),
    )
    meta["jobs"] = args.jobs

    def one(method):
        lr = default.LEARNING_RATES.get(method)
        if lr is None:
            lr = kc.method_configs.get_method(method).default_learning_rate
        run_dir = os.path.join(runs_dir, method)
        if args.collect:
            return collect(method, run_dir, default.EPOCHS, lr)
        return run_method(method, args, default.EPOCHS, lr, run_dir)

    def write(results):
        with open(os.path.join(args.output_dir, "offline_default.json"), "w") as f:
            json.dump(dict(meta, results=results), f, indent=1)
        with open(os.path.join(args.output_dir, "offline_default.md"), "w") as f:
            f.write(markdown(results, meta))

    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(one, m): m for m in methods}
        for future in concurrent.futures.as_completed(futures):
            results[futures[future]] = future.result()
            write([results[m] for m in methods if m in results])
    print(markdown([results[m] for m in methods], meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
