"""Run the benchmarks: one command, each configuration in its own process.

    python benchmarks/run.py                                # current backend, tiny
    python benchmarks/run.py --backend all --workload t5-small
    python benchmarks/run.py --backend jax --methods full compacter++ bitfit \\
        --steps 5 --workload t5-small

For every backend: a `micro` process (float32 matmul peak, `PHMDense`
factored against materialised), then one `train` process per method (`full`
first: every ratio is to the `full` of the same run). Results go to
`--output` (default `benchmarks/results/`): `<workload>.json` (everything
measured, merged with earlier runs of other backends/methods unless
`--fresh`), `<workload>.md` (the tables) and `<workload>.png` (the plot).
"""

import argparse
import datetime
import fcntl
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from report import write_reports  # noqa: E402
from workloads import BACKENDS, METHODS, WORKLOADS  # noqa: E402


def _run_worker(backend, argv, timeout, log, threads=None):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
        argv = [*argv, "--threads", str(threads)]
    env.setdefault("PYTHONWARNINGS", "ignore")
    command = [sys.executable, os.path.join(HERE, "worker.py"), *argv]
    start = time.time()
    try:
        proc = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        code, output = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as e:
        code = "timeout"
        output = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else ""
    if log:
        with open(log, "a") as f:
            f.write(f"\n=== {backend} {' '.join(argv)} -> {code}\n{output[-4000:]}\n")
    return code, output, time.time() - start


def _from_scratch(scratch):
    """The per-configuration records the workers wrote, as `runs`."""
    runs = {}
    for name in sorted(os.listdir(scratch)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(scratch, name)) as f:
            record = json.load(f)
        run = runs.setdefault(record["backend"], {"train": {}, "errors": {}})
        if record["kind"] == "micro":
            run["micro"] = record
        else:
            run["train"][record["method"]] = record
    return runs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--backend",
        "--backends",
        dest="backends",
        nargs="+",
        default=None,
        help="jax, tensorflow, torch, or all (default: $KERAS_BACKEND or jax)",
    )
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="tiny")
    parser.add_argument("--methods", nargs="+", default=None, help="default: all")
    parser.add_argument("--steps", type=int, default=None, help="timed train steps")
    parser.add_argument("--no-latency", action="store_true", help="skip fwd/generate")
    parser.add_argument("--no-micro", action="store_true", help="skip peak and PHM")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="only rebuild the JSON/markdown/plot from the per-process records",
    )
    parser.add_argument("--fresh", action="store_true", help="drop earlier results")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads per process (OMP_NUM_THREADS, torch.set_num_threads); "
        "default: the framework's. On a loaded machine torch's OpenMP threads "
        "spin-wait for descheduled peers: 1 avoids it.",
    )
    parser.add_argument("--timeout", type=float, default=1800, help="per process, s")
    parser.add_argument("--output", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)

    backends = args.backends or [os.environ.get("KERAS_BACKEND", "jax")]
    if backends == ["all"]:
        backends = list(BACKENDS)
    methods = args.methods or list(METHODS)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; valid: {', '.join(METHODS)}")
    os.makedirs(args.output, exist_ok=True)
    path = os.path.join(args.output, f"{args.workload}.json")
    log = os.path.join(args.output, f"{args.workload}.log")
    results = {"workload": args.workload, "runs": {}}
    if os.path.exists(path) and not args.fresh:
        with open(path) as f:
            results = json.load(f)
    results["workload_spec"] = {
        k: v for k, v in vars(WORKLOADS[args.workload]).items() if k != "name"
    }
    scratch = os.path.join(args.output, ".scratch")
    os.makedirs(scratch, exist_ok=True)

    def save():
        # Other invocations may write the same file (one per backend, say):
        # merge this one's backends into what is there now, under a lock.
        with open(path + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            merged = results
            if os.path.exists(path):
                with open(path) as f:
                    merged = json.load(f)
                for backend in backends:
                    if backend in results["runs"]:
                        merged["runs"][backend] = results["runs"][backend]
                merged["workload_spec"] = results["workload_spec"]
            merged["updated_utc"] = datetime.datetime.now(
                datetime.timezone.utc
            ).isoformat()
            with open(path + ".tmp", "w") as f:
                json.dump(merged, f, indent=1)
            os.replace(path + ".tmp", path)
            write_reports(merged, args.output, args.workload, plot=not args.no_plot)

    if args.rebuild:
        # The per-process records win over what the JSON holds (another
        # invocation may have saved a stale copy); records only in the JSON
        # (their process's file since replaced or removed) are kept.
        for backend, run in _from_scratch(scratch).items():
            kept = results["runs"].setdefault(backend, {"train": {}, "errors": {}})
            kept.setdefault("train", {}).update(run["train"])
            if "micro" in run:
                kept["micro"] = run["micro"]
            for name in [*run["train"], "micro"]:
                kept.setdefault("errors", {}).pop(name, None)
        backends = list(results["runs"])
        save()
        print(f"Rebuilt {path} from {scratch}")
        return 0

    for backend in backends:
        run = results["runs"].setdefault(backend, {"train": {}, "errors": {}})
        run.setdefault("errors", {})
        run["started_utc"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
        if not args.no_micro:
            out = os.path.join(scratch, f"{backend}-micro.json")
            code, output, seconds = _run_worker(
                backend, ["micro", "--output", out], args.timeout, log, args.threads
            )
            print(f"[{backend}] micro: exit {code} in {seconds:.0f} s", flush=True)
            if code == 0:
                with open(out) as f:
                    run["micro"] = json.load(f)
                run["errors"].pop("micro", None)
            else:
                run["errors"]["micro"] = output[-2000:]
            save()
        for method in methods:
            out = os.path.join(scratch, f"{backend}-{method}.json")
            if os.path.exists(out):
                os.remove(out)
            worker_args = ["train", "--workload", args.workload, "--method", method]
            worker_args += ["--output", out]
            if args.steps:
                worker_args += ["--steps", str(args.steps)]
            if args.no_latency:
                worker_args.append("--no-latency")
            code, output, seconds = _run_worker(
                backend, worker_args, args.timeout, log, args.threads
            )
            if os.path.exists(out):  # Partial results are kept (e.g. latency failed).
                with open(out) as f:
                    record = json.load(f)
                record["process_s"] = seconds
                run["train"][method] = record
            if code == 0:
                run["errors"].pop(method, None)
                r = run["train"][method]
                print(
                    f"[{backend}] {method}: step {r['step_s'] * 1e3:.0f} ms, peak "
                    f"{r['peak_rss_bytes'] / 2**20:.0f} MiB ({seconds:.0f} s)",
                    flush=True,
                )
            else:
                run["errors"][method] = f"exit {code}: {output[-2000:]}"
                print(f"[{backend}] {method}: FAILED (exit {code})", flush=True)
                print(output[-1500:], flush=True)
            save()
    print(f"Wrote {path} and its .md/.png")
    return 0 if not any(r.get("errors") for r in results["runs"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
