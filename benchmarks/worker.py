"""One benchmark configuration, in its own process (run by `run.py`).

    KERAS_BACKEND=jax python benchmarks/worker.py train --workload tiny \\
        --method compacter++ --output result.json
    KERAS_BACKEND=jax python benchmarks/worker.py micro --output micro.json

`train`: builds the workload's T5 (random weights), injects the method,
trains with `train_on_batch` (as `fit` does, one compiled step per call) and
records the median step time after warm-up and the peak resident memory of
the process; then the forward (`predict_on_batch`) and `generate()` latency
with the method and without it (`keras_compacter.disabled`, the base model's
computation in the same process).

`micro`: the float32 matmul peak of this machine under the backend (largest
of a few large square products) and the `PHMDense` micro-benchmark.
"""

import argparse
import dataclasses
import datetime
import json
import os
import platform
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def rss_bytes():
    """Current resident set size of this process."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0  # pragma: no cover - not Linux.


def peak_rss_bytes():
    """Peak resident set size of this process so far (`ru_maxrss`, in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def trim_heap():
    """`malloc_trim(0)` (glibc): return free heap pages to the OS."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
        return True
    except (OSError, AttributeError):
        return False


def reset_peak_rss():
    """Reset the kernel's peak-RSS mark (`VmHWM`, Linux >= 4.0); True if done.

    After the warm-up steps, so that the peak of the timed steps is the
    steady-state training peak, without the one-time compilation.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:  # pragma: no cover
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _timed(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _versions(keras):
    import keras_hub

    versions = {"keras": keras.__version__, "keras_hub": keras_hub.__version__}
    backend = keras.config.backend()
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
    versions[module] = __import__(module).__version__
    return versions


def train(args):
    import keras
    import numpy as np
    from workloads import WORKLOADS

    import keras_compacter as kc

    workload = WORKLOADS[args.workload]
    steps = args.steps or workload.steps
    baseline = rss_bytes()
    keras.utils.set_random_seed(0)
    backbone = kc.t5_backbone(workload.arch, **workload.overrides)
    import keras_hub

    model = keras_hub.models.T5Seq2SeqLM(backbone=backbone)
    dims = dict(backbone.get_config())
    if dims.get("key_value_dim") is None:
        dims["key_value_dim"] = dims["hidden_dim"] // dims["num_heads"]
    base_shapes = [tuple(v.shape) for v in model.weights]
    after_build = rss_bytes()

    settings = dict(workload.method_settings.get(args.method, {}))
    kc.inject(model, args.method, **settings)
    summary = kc.summary(model, print_fn=None)
    config = dataclasses.asdict(kc.injected_method(model))

    rng = np.random.default_rng(0)
    vocab = dims["vocabulary_size"]
    B, S, T = workload.batch, workload.source, workload.target
    x = {
        "encoder_token_ids": rng.integers(3, vocab, (B, S)).astype("int32"),
        "encoder_padding_mask": np.ones((B, S), "int32"),
        "decoder_token_ids": rng.integers(3, vocab, (B, T)).astype("int32"),
        "decoder_padding_mask": np.ones((B, T), "int32"),
    }
    y = rng.integers(3, vocab, (B, T)).astype("int32")
    model.compile(
        optimizer=keras.optimizers.AdamW(1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[],
        sampler="greedy",
    )

    def step():
        logs = model.train_on_batch(x, y)
        return float(logs[0] if isinstance(logs, (list, tuple)) else logs)

    start = time.perf_counter()
    losses = [step()]
    first_step = time.perf_counter() - start
    for _ in range(workload.warmup - 1):
        losses.append(step())
    peak_process = peak_rss_bytes()  # Includes building and compiling.
    was_reset = reset_peak_rss()
    step_times = []
    for _ in range(steps):
        start = time.perf_counter()
        losses.append(step())
        step_times.append(time.perf_counter() - start)
    peak_train = peak_rss_bytes() if was_reset else peak_process
    # The same after handing freed heap back to the OS (`malloc_trim`): what
    # the allocator kept from building and compiling no longer counts, so
    # this peak is the memory one training step needs (weights, gradients,
    # optimizer state, activations, the compiled program).
    peak_trimmed = None
    if was_reset and trim_heap() and reset_peak_rss():
        losses.append(step())
        peak_trimmed = peak_rss_bytes()

    from flops import step_flops

    flops = step_flops(dims, args.method, config, B, S, T, base_shapes)

    result = {
        "kind": "train",
        "threads": args.threads,
        "backend": keras.config.backend(),
        "workload": workload.name,
        "method": args.method,
        "settings": settings,
        "batch": [B, S, T],
        "trainable": int(summary["trainable"]),
        "percent": float(summary["percent"]),
        "first_step_s": first_step,
        "step_times_s": step_times,
        "step_s": statistics.median(step_times),
        "losses": losses,
        "rss_baseline_bytes": baseline,
        "rss_after_build_bytes": after_build,
        "process_peak_rss_bytes": max(peak_process, peak_train),
        "peak_is_steady_state": was_reset,
        "peak_rss_bytes": peak_train,
        "peak_minus_baseline_bytes": peak_train - baseline,
        "trimmed_peak_rss_bytes": peak_trimmed,
        "trimmed_peak_minus_baseline_bytes": (
            None if peak_trimmed is None else peak_trimmed - baseline
        ),
        "flops": flops,
    }
    if keras.config.backend() == "jax":
        result["xla_memory"] = _xla_memory(model, x, y)
    _write(args.output, result)  # Training figures are kept if latency fails.

    if not args.no_latency:
        result.update(_latency(model, x, workload, args.method, kc, np))
    result["loadavg_end"] = list(os.getloadavg())
    _write(args.output, result)


def _xla_memory(model, x, y):
    """XLA's own buffer accounting of the compiled training step (JAX).

    The step is compiled again the way Keras compiles it (`jax.jit` of
    `train_step`, the state donated), and `memory_analysis()` reports the
    buffers XLA assigns: the arguments (weights, optimizer state), the
    temporaries (activations, gradients) and the outputs not aliased to a
    donated input. Their sum is the training step's memory without the
    runtime's own (the Python process, the compiled code, the allocator):
    peak RSS includes those, XLA's figure does not.
    """
    import jax

    state = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in model.optimizer.variables],
        [v.value for v in model.metrics_variables],
    )
    step = jax.jit(model.train_step, donate_argnums=0)
    analysis = step.lower(state, (x, y)).compile().memory_analysis()
    if analysis is None:  # pragma: no cover - backend without the analysis.
        return None
    out = {
        name: int(getattr(analysis, name + "_size_in_bytes"))
        for name in ("argument", "temp", "output", "alias")
    }
    out["total"] = out["argument"] + out["temp"] + out["output"] - out["alias"]
    return out


def _latency(model, x, workload, method, kc, np):
    """Forward and generate() latency, with the method and without it."""
    B, T = workload.batch, workload.target
    prompt = np.zeros((B, T + 1), "int32")
    mask = np.zeros((B, T + 1), "int32")
    mask[:, 0] = 1
    gen_inputs = {
        "encoder_token_ids": x["encoder_token_ids"],
        "encoder_padding_mask": x["encoder_padding_mask"],
        "decoder_token_ids": prompt,
        "decoder_padding_mask": mask,
    }

    def measure():
        model.predict_on_batch(x)  # warm-up (compiles)
        forward = _timed(lambda: model.predict_on_batch(x), workload.forward_repeats)
        model.generate(gen_inputs, stop_token_ids=None)
        generate = _timed(
            lambda: model.generate(gen_inputs, stop_token_ids=None),
            workload.generate_repeats,
        )
        return statistics.median(forward), statistics.median(generate)

    out = {}
    out["forward_s"], out["generate_s"] = measure()
    if method == "full":
        # Full fine-tuning changes no computation: the same model.
        out["base_forward_s"], out["base_generate_s"] = None, None
        return out
    with kc.disabled(model):
        out["base_forward_s"], out["base_generate_s"] = measure()
    return out


def micro(args):
    import keras
    import numpy as np
    from keras import ops

    from keras_compacter.layers import PHMDense

    result = {
        "kind": "micro",
        "threads": args.threads,
        "backend": keras.config.backend(),
        "versions": _versions(keras),
        "machine": machine(),
    }

    # float32 matmul peak: the best of a few repeats at a few sizes.
    peaks = {}
    for size in args.matmul_sizes:
        a = ops.convert_to_tensor(np.random.rand(size, size).astype("float32"))
        b = ops.convert_to_tensor(np.random.rand(size, size).astype("float32"))
        ops.convert_to_numpy(ops.matmul(a, b))

        def product(a=a, b=b):
            ops.convert_to_numpy(ops.sum(ops.matmul(a, b)))

        best = min(_timed(product, 5))
        peaks[str(size)] = 2 * size**3 / best
    result["matmul_flops_per_s"] = peaks
    result["matmul_peak_flops_per_s"] = max(peaks.values())

    # PHMDense: factored call against materialising W.
    rows = []
    for tokens, k, units, n, rank in PHM_SIZES:
        keras.utils.set_random_seed(0)
        layer = PHMDense(units, phm_dim=n, phm_rank=rank)
        x = ops.convert_to_tensor(np.random.rand(tokens, k).astype("float32"))
        layer.build(x.shape)
        paths = {
            "factored": _compiled(lambda x, layer=layer: layer.call_factored(x), x),
            "materialised": _compiled(
                lambda x, layer=layer: layer.call_materialised(x), x
            ),
            "auto": _compiled(lambda x, layer=layer: layer(x), x),
        }
        row = {"tokens": tokens, "in": k, "units": units, "n": n, "rank": rank}
        for name, fn in paths.items():
            fn()
            repeats = 20 if tokens * k * units < 1e8 else 5
            row[name + "_s"] = min(
                _timed(lambda fn=fn: ops.convert_to_numpy(fn()), repeats)
            )
        from flops import phm_flops

        row["factored_flops"], row["materialised_flops"] = phm_flops(
            tokens, k, units, n, rank
        )
        row["faster"] = (
            "factored" if row["factored_s"] < row["materialised_s"] else "materialised"
        )
        rows.append(row)
    result["phm_dense"] = rows
    result["loadavg_end"] = list(os.getloadavg())
    _write(args.output, result)


def _compiled(fn, x):
    """`fn` on `x` compiled as `train_on_batch` compiles a model's step by
    default on CPU: `jax.jit` on JAX, `tf.function` on TensorFlow, eager on
    torch (the layer's weights are captured as constants/variables)."""
    import keras

    backend = keras.config.backend()
    if backend == "jax":
        import jax

        jitted = jax.jit(fn)
        return lambda: jitted(x)
    if backend == "tensorflow":
        import tensorflow as tf

        graph = tf.function(fn)
        return lambda: graph(x)
    import torch

    def eager():
        with torch.no_grad():
            return fn(x)

    return eager


#: (rows, in, units, n, rank): Compacter's LPHM projections of T5-small
#: (512 <-> 16, n=4, r=1) and PHM-Adapter's of T5-base (768 <-> 24, n=12,
#: full rank) at a training step's row count (1024) and a generate() step's
#: (8), and square layers where materialising `W` pays.
PHM_SIZES = (
    (1024, 512, 16, 4, 1),
    (1024, 16, 512, 4, 1),
    (1024, 768, 24, 12, None),
    (1024, 24, 768, 12, None),
    (8, 768, 24, 12, None),
    (8, 24, 768, 12, None),
    (8, 512, 512, 4, None),
    (1024, 512, 512, 4, None),
    (1024, 512, 512, 4, 1),
    (1024, 512, 512, 4, 8),
    (8, 1024, 1024, 8, None),
    (4096, 1024, 1024, 8, None),
)


def _write(path, result):
    result.setdefault(
        "date_utc", datetime.datetime.now(datetime.timezone.utc).isoformat()
    )
    result.setdefault("loadavg_start", list(os.getloadavg()))
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--workload", default="tiny")
    t.add_argument("--method", required=True)
    t.add_argument("--steps", type=int, default=None)
    t.add_argument("--no-latency", action="store_true")
    t.add_argument("--output", required=True)
    m = sub.add_parser("micro")
    m.add_argument("--matmul-sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    m.add_argument("--output", required=True)
    for p in (t, m):
        p.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads and os.environ.get("KERAS_BACKEND") == "torch":
        import torch

        torch.set_num_threads(args.threads)
    start_load = list(os.getloadavg())
    if args.command == "train":
        train(args)
    else:
        micro(args)
    with open(args.output) as f:
        result = json.load(f)
    result["loadavg_start"] = start_load
    _write(args.output, result)


if __name__ == "__main__":
    main()
