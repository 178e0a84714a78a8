"""Markdown tables and a PNG plot from the benchmark JSON."""

import os

from workloads import METHODS

MIB = 2**20


def _fmt(value, spec, missing="—"):
    return missing if value is None else format(value, spec)


def _ratio(a, b):
    return None if a is None or not b else a / b


def _overhead(with_method, base):
    if with_method is None or not base:
        return None
    return 100.0 * (with_method / base - 1.0)


def rows(run):
    """Per-method figures of one backend's run, with the ratios to `full`."""
    train = run.get("train", {})
    full = train.get("full", {})
    peak = (run.get("micro") or {}).get("matmul_peak_flops_per_s")
    out = []
    for method in METHODS:
        r = train.get(method)
        if not r or "step_s" not in r:
            continue
        step, flops = r["step_s"], r["flops"]["step"]
        floor = flops / peak if peak else None
        out.append(
            {
                "method": method,
                "percent": r["percent"],
                "step_ms": 1e3 * step,
                "step_ratio": _ratio(step, full.get("step_s")),
                "peak_mib": r["peak_rss_bytes"] / MIB,
                "process_peak_mib": r.get("process_peak_rss_bytes", 0) / MIB,
                "baseline_mib": r["rss_baseline_bytes"] / MIB,
                "delta_mib": r["peak_minus_baseline_bytes"] / MIB,
                "delta_ratio": _ratio(
                    r["peak_minus_baseline_bytes"],
                    full.get("peak_minus_baseline_bytes"),
                ),
                "peak_ratio": _ratio(r["peak_rss_bytes"], full.get("peak_rss_bytes")),
                "trimmed_mib": None
                if r.get("trimmed_peak_minus_baseline_bytes") is None
                else r["trimmed_peak_minus_baseline_bytes"] / MIB,
                "trimmed_ratio": _ratio(
                    r.get("trimmed_peak_minus_baseline_bytes"),
                    full.get("trimmed_peak_minus_baseline_bytes"),
                ),
                "xla_mib": None
                if not r.get("xla_memory")
                else r["xla_memory"]["total"] / MIB,
                "xla_ratio": _ratio(
                    (r.get("xla_memory") or {}).get("total"),
                    (full.get("xla_memory") or {}).get("total"),
                ),
                "forward_overhead": _overhead(
                    r.get("forward_s"), r.get("base_forward_s")
                ),
                "generate_overhead": _overhead(
                    r.get("generate_s"), r.get("base_generate_s")
                ),
                "gflop": flops / 1e9,
                "fraction_of_peak": None if not peak else flops / step / peak,
                "over_floor": None if not floor else step / floor,
            }
        )
    return out


def markdown(results):
    lines = [f"# Benchmarks: workload `{results['workload']}`", ""]
    spec = results.get("workload_spec", {})
    if spec:
        lines.append(
            f"Model `{spec['arch']}` {spec['overrides'] or '(full size)'}, random "
            f"weights; batch {spec['batch']}, source {spec['source']}, target "
            f"{spec['target']} tokens; AdamW, `train_on_batch`, median of the "
            "timed steps after warm-up."
        )
        lines.append("")
    lines += [
        "Columns: `step` median training step; `x full` the ratio to `full` in",
        "the same run; `peak` the peak RSS during the timed steps (the kernel's",
        "peak mark is reset after warm-up, so one-time compilation is left out;",
        "`proc` is the process's whole peak, `ru_maxrss`, compilation included);",
        "`Δpeak` is `peak` minus the RSS after importing the framework and before",
        "the model is built (import alone costs hundreds of MiB, the same for",
        "every method): the memory training takes. `mem x full` is the ratio of",
        "`Δpeak` (raw `peak` ratio in brackets). `trimmed Δ` is the same peak",
        "over one more step after `malloc_trim(0)` handed the heap the allocator",
        "kept from building and compiling back to the OS: the memory a step",
        "needs. `XLA MiB` (JAX only) is XLA's own accounting of the compiled",
        "step's buffers (arguments + temporaries + unaliased outputs): the",
        "step's memory without the runtime's. `fwd`/`gen` the",
        "forward (`predict_on_batch`) and `generate()` latency overhead against",
        "the same model with the method disabled; `GFLOP` the analytic matmul",
        "FLOPs of a step (`benchmarks/flops.py`); `% peak` the achieved fraction",
        "of the float32 matmul peak measured in the same run; `x floor` the step",
        "time over its FLOP floor (FLOPs / peak).",
        "",
    ]
    for backend, run in results["runs"].items():
        micro = run.get("micro") or {}
        table = rows(run)
        if not table and not micro:
            continue
        machine = micro.get("machine", {})
        versions = ", ".join(f"{k} {v}" for k, v in micro.get("versions", {}).items())
        peak = micro.get("matmul_peak_flops_per_s")
        loads = [
            r["loadavg_start"][0]
            for r in run.get("train", {}).values()
            if r.get("loadavg_start")
        ]
        lines.append(f"## {backend}")
        lines.append("")
        lines.append(
            f"{run.get('started_utc', '')[:16].replace('T', ' ')} UTC; "
            f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores; "
            f"{versions}; float32 matmul peak "
            f"{_fmt(None if peak is None else peak / 1e9, '.1f')} GFLOP/s; "
            f"1-min load average {_fmt(min(loads) if loads else None, '.1f')}"
            f"–{_fmt(max(loads) if loads else None, '.1f')} during the run."
        )
        lines.append("")
        lines.append(
            "| method | trains % | step ms | x full | proc MiB | peak MiB | "
            "Δpeak MiB | mem x full | trimmed Δ MiB | x full | XLA MiB | x full | "
            "fwd +% | gen +% | GFLOP | % peak | x floor |"
        )
        lines.append("|---|" + "---:|" * 16)
        for r in table:
            mem = _fmt(r["delta_ratio"], ".2f")
            if r["peak_ratio"] is not None:
                mem += f" ({r['peak_ratio']:.2f})"
            lines.append(
                f"| {r['method']} | {r['percent']:.3f} | {r['step_ms']:.0f} | "
                f"{_fmt(r['step_ratio'], '.2f')} | {r['process_peak_mib']:.0f} | "
                f"{r['peak_mib']:.0f} | "
                f"{r['delta_mib']:.0f} | {mem} | {_fmt(r['trimmed_mib'], '.0f')} | "
                f"{_fmt(r['trimmed_ratio'], '.2f')} | "
                f"{_fmt(r['xla_mib'], '.0f')} | {_fmt(r['xla_ratio'], '.2f')} | "
                f"{_fmt(r['forward_overhead'], '+.0f')} | "
                f"{_fmt(r['generate_overhead'], '+.0f')} | {r['gflop']:.1f} | "
                f"{_fmt(None if r['fraction_of_peak'] is None else 100 * r['fraction_of_peak'], '.0f')} | "  # noqa: E501
                f"{_fmt(r['over_floor'], '.1f')} |"
            )
        errors = run.get("errors") or {}
        if errors:
            lines.append("")
            lines.append("Failed: " + ", ".join(sorted(errors)))
        lines.append("")
    lines += _targets(results)
    lines += _micro_tables(results)
    return "\n".join(lines) + "\n"


def _targets(results):
    lines = ["## Targets (Compacter++)", ""]
    lines.append(
        "| backend | step x full (≤ 0.6) | mem x full (≤ 0.5) | trimmed mem x full "
        "(≤ 0.5) | XLA mem x full (≤ 0.5) | x floor (≤ 1.5) |"
    )
    lines.append("|---|---:|---:|---:|---:|---:|")
    for backend, run in results["runs"].items():
        for r in rows(run):
            if r["method"] == "compacter++":
                lines.append(
                    f"| {backend} | {_fmt(r['step_ratio'], '.2f')} | "
                    f"{_fmt(r['delta_ratio'], '.2f')} | "
                    f"{_fmt(r['trimmed_ratio'], '.2f')} | "
                    f"{_fmt(r['xla_ratio'], '.2f')} | "
                    f"{_fmt(r['over_floor'], '.1f')} |"
                )
    return lines + [""]


def _micro_tables(results):
    lines = []
    for backend, run in results["runs"].items():
        micro = run.get("micro") or {}
        phm = micro.get("phm_dense")
        if not phm:
            continue
        lines.append(f"## `PHMDense`, factored against materialised `W` ({backend})")
        lines.append("")
        lines.append(
            "| rows | in | units | n | rank | factored µs | materialised µs | "
            "auto µs | faster | FLOPs fact./mat. |"
        )
        lines.append("|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
        for r in phm:
            lines.append(
                f"| {r['tokens']} | {r['in']} | {r['units']} | {r['n']} | "
                f"{r['rank'] or 'full'} | {1e6 * r['factored_s']:.0f} | "
                f"{1e6 * r['materialised_s']:.0f} | {1e6 * r['auto_s']:.0f} | "
                f"{r['faster']} | "
                f"{r['factored_flops'] / r['materialised_flops']:.2f} |"
            )
        lines.append("")
    return lines


def plot_results(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backends = [b for b, run in results["runs"].items() if rows(run)]
    methods = [
        m
        for m in METHODS
        if any(r["method"] == m for b in backends for r in rows(results["runs"][b]))
    ]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=False)
    width = 0.8 / max(1, len(backends))
    for panel, (key, title, target) in enumerate(
        (
            ("step_ratio", "training step time / full", 0.6),
            ("delta_ratio", "peak memory (minus framework baseline) / full", 0.5),
        )
    ):
        ax = axes[panel]
        for j, backend in enumerate(backends):
            by = {r["method"]: r for r in rows(results["runs"][backend])}
            values = [
                (by[m][key] if m in by and by[m][key] is not None else float("nan"))
                for m in methods
            ]
            xs = [
                i + (j - (len(backends) - 1) / 2) * width for i in range(len(methods))
            ]
            ax.bar(xs, values, width, label=backend)
        ax.axhline(1.0, color="gray", lw=0.8)
        ax.axhline(target, color="red", lw=0.8, ls="--", label=f"target {target}")
        ax.set_xticks(range(len(methods)))
        ax.set_xticklabels(methods, rotation=45, ha="right")
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.suptitle(f"keras-compacter, workload {results['workload']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_reports(results, directory, name, plot=True):
    """Write `<name>.md` and, with matplotlib installed, `<name>.png`."""
    with open(os.path.join(directory, f"{name}.md"), "w") as f:
        f.write(markdown(results))
    if plot:
        try:
            plot_results(results, os.path.join(directory, f"{name}.png"))
        except ImportError:
            print("matplotlib is not installed: no plot (pip install matplotlib)")
