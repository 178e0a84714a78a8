"""Train tiny T5s on two virtual devices, for `test_distribution.py`.

The number of devices is fixed when the framework starts, so this runs in a
fresh process: `python distribution_worker.py OUT --methods compacter++,bitfit
[--model-parallel]`, with `KERAS_BACKEND` set to `jax` or `tensorflow`.
It splits the host CPU in two devices (JAX: `XLA_FLAGS
--xla_force_host_platform_device_count=2`; TensorFlow: two logical CPU
devices), trains each method under `keras_compacter.distribution` and
writes, per method, to OUT: the adapter file (`<method>.npz`), the logits on
`PROBE` (`<method>.logits.npy`) and the base model's weights before
injection (`<method>.base.npz`, to load the adapter on other backends), plus
`info.json` (devices, replica count, variable shardings).

`python distribution_worker.py OUT --load FOLDER --methods ...` instead
loads FOLDER's adapters into plain one-device models (under this process's
backend) and writes the logits' largest differences to OUT/load.json.

`python distribution_worker.py OUT --coordinator localhost:PORT --processes 2
--process I --methods ...` is process I of a multi-process JAX run
(`keras.distribution.initialize`, one CPU device per process), each process
fitting its `local_part` of the data; it writes `<method>.processI.npz`.

The test process imports `train_tiny`, `probe_logits` and friends from here
to train the same models on one device.
"""

import argparse
import functools
import json
import os
import sys
import time

DEVICES = 2


def split_host_into_devices(backend, count=DEVICES):
    """Make `count` CPU devices; must run before the framework initialises."""
    if backend == "jax":
        flag = f"--xla_force_host_platform_device_count={count}"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()
    elif backend == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )


# (hidden size, settings): the tiny defaults are 16 wide; Compacter++'s
# defaults need 128 (see t5_cases.CASES).
METHODS = {
    "compacter++": (128, {}),
    "bitfit": (16, {}),
    "prompt-tuning": (16, {"length": 5}),
}

#: One epoch of 8 examples in batches of 4: two steps, each batch split
#: 2 + 2 over two devices.
BATCH_SIZE = 4
LEARNING_RATE = 2.0
PAIRS = [
    ("sst2 sentence: this movie is a delight from start to finish", "positive"),
    ("cola sentence: the book was written by john", "acceptable"),
    ("rte sentence1: a cat sat on the mat sentence2: an animal is sitting", "one"),
    ("mnli hypothesis: nobody came premise: everyone came to the party", "two"),
    ("qnli question: where is paris? sentence: paris is in france", "three"),
    ("translate english to german: the house is wonderful", "four"),
    ("summarize: state authorities dispatched emergency crews tuesday", "five"),
    ("the quick brown fox jumped over the lazy dog", "six"),
]
TRAIN = {
    "encoder_text": [s for s, _ in PAIRS],
    "decoder_text": [t for _, t in PAIRS],
}
PROBE = {
    "encoder_text": [s for s, _ in PAIRS[:4]],
    "decoder_text": ["negative", "neutral", "entailment", "contradiction"],
}


@functools.lru_cache(maxsize=1)
def proto():
    from keras_compacter.testing import tiny_sentencepiece_proto

    return tiny_sentencepiece_proto()


def tiny_model(method):
    """The same tiny T5 (seeded, dropout off) in every process."""
    from keras_compacter.testing import tiny_t5_seq2seq_lm

    return tiny_t5_seq2seq_lm(
        proto=proto(), seed=0, dropout=0.0, hidden_dim=METHODS[method][0]
    )


def base_weights(model):
    import numpy as np

    return {f"w{i}": np.asarray(w.numpy()) for i, w in enumerate(model.weights)}


def inject_tiny(method, model=None):
    """The tiny T5 with `method` injected, compiled, ready to `fit_tiny`."""
    import keras

    import keras_compacter as kc
    from keras_compacter.distribution import integer_masks

    model = model if model is not None else tiny_model(method)
    kc.inject(model, method, **METHODS[method][1])
    integer_masks(model)
    # Plain SGD: an update is proportional to the gradient, so a gradient
    # scaled wrongly across devices (a sum for a mean, say) would show.
    model.compile(
        optimizer=keras.optimizers.SGD(LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[],
    )
    return model


def fit_tiny(model):
    """One epoch of `TRAIN`: two steps of `BATCH_SIZE`, in order."""
    model.fit(TRAIN, batch_size=BATCH_SIZE, epochs=1, shuffle=False, verbose=0)
    return model


def train_tiny(method, model=None):
    """Inject `method`, compile and fit one epoch, in the current scope."""
    return fit_tiny(inject_tiny(method, model))


def probe_logits(model):
    """The logits on `PROBE`, from an eager call (no compilation)."""
    import keras
    import numpy as np

    x, _, _ = model.preprocessor(PROBE)
    return np.asarray(keras.ops.convert_to_numpy(model(x)))


def trained_arrays(model):
    """{stable key: value} of what the method trains."""
    import keras
    import numpy as np

    import keras_compacter as kc

    return {
        r.key: np.asarray(keras.ops.convert_to_numpy(r.variable))
        for r in kc.trained_variables(model)
    }


def _copies(variable):
    """On how many devices `variable` lives (JAX sharding, TF mirrored values)."""
    value = variable.value
    if hasattr(value, "sharding"):
        return len(value.sharding.device_set)
    return len(getattr(value, "values", [value]))


def _shardings(model):
    """{variable path: partition spec} of the model's variables (JAX)."""
    out = {}
    for v in model.weights:
        spec = getattr(v.value.sharding, "spec", None)
        out[v.path] = None if spec is None else [a for a in spec]
    return out


def train_distributed(out, methods, model_parallel):
    import keras
    import numpy as np

    import keras_compacter as kc
    from keras_compacter import distribution

    info = {"devices": keras.distribution.list_devices()}
    runs = [(m, "data", distribution.data_parallel) for m in methods]
    if model_parallel:
        runs.append(
            (
                "compacter++",
                "model",
                lambda: distribution.t5_model_parallel(DEVICES).scope(),
            )
        )
    start = time.time()

    def log(what):
        print(f"{time.time() - start:7.1f}s {what}", flush=True)

    for method, kind, scope in runs:
        name = method if kind == "data" else f"model-parallel-{method}"
        with scope() as replicas:
            model = tiny_model(method)
            np.savez(os.path.join(out, f"{name}.base.npz"), **base_weights(model))
            log(f"{name}: built")
            train_tiny(method, model)
            log(f"{name}: trained")
            np.save(os.path.join(out, f"{name}.logits.npy"), probe_logits(model))
            log(f"{name}: predicted")
            if replicas is not None:
                info["replicas"] = replicas.count
                info["replica_devices"] = list(replicas.devices)
                info[f"{name}.copies"] = sorted(
                    {_copies(r.variable) for r in kc.trained_variables(model)}
                )
            if replicas is not None and method == methods[0]:
                # Inside the scope on JAX, generate() needs a multiple of
                # `count` inputs; Replicas.generate pads an odd batch.
                texts = PROBE["encoder_text"][:3]
                info[f"{name}.generated"] = replicas.generate(
                    model, texts, max_length=4
                )
                log(f"{name}: generated")
            if kind == "model":
                info[f"{name}.shardings"] = _shardings(model)
                info[f"{name}.trained_paths"] = [
                    r.variable.path for r in kc.trained_variables(model)
                ]
        kc.save_adapter(model, os.path.join(out, f"{name}.npz"))
    with open(os.path.join(out, "info.json"), "w") as f:
        json.dump(info, f)


def train_as_one_of_many_processes(out, methods, coordinator, processes, process):
    """One process (host) of a multi-process JAX run, one CPU device each."""
    import keras

    import keras_compacter as kc
    from keras_compacter import distribution

    keras.distribution.initialize(
        job_addresses=coordinator, num_processes=processes, process_id=process
    )
    info = {"devices": keras.distribution.list_devices()}
    for method in methods:
        with distribution.data_parallel() as replicas:
            model = inject_tiny(method)
            model.fit(
                replicas.local_part(TRAIN),
                batch_size=replicas.local_batch_size(BATCH_SIZE),
                epochs=1,
                shuffle=False,
                verbose=0,
            )
            info.update(
                replicas=replicas.count,
                num_processes=replicas.num_processes,
                process_id=replicas.process_id,
            )
        # Every process can read the (replicated) trained weights; a real
        # run saves from process 0 only.
        kc.save_adapter(model, os.path.join(out, f"{method}.process{process}.npz"))
    with open(os.path.join(out, f"info.process{process}.json"), "w") as f:
        json.dump(info, f)


def load_elsewhere(out, folder, names):
    """Load adapters saved in `folder` into plain one-device models."""
    import numpy as np

    import keras_compacter as kc

    worst = {}
    for name in names:
        method = name.removeprefix("model-parallel-")
        model = tiny_model(method)
        with np.load(os.path.join(folder, f"{name}.base.npz")) as base:
            model.set_weights([base[f"w{i}"] for i in range(len(base.files))])
        kc.load_adapter(model, os.path.join(folder, f"{name}.npz"))
        want = np.load(os.path.join(folder, f"{name}.logits.npy"))
        worst[name] = float(np.abs(probe_logits(model) - want).max())
    with open(os.path.join(out, "load.json"), "w") as f:
        json.dump(worst, f)


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--methods", default="compacter++")
    parser.add_argument("--model-parallel", action="store_true")
    parser.add_argument("--load", default=None)
    parser.add_argument("--coordinator", default=None)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--process", type=int, default=0)
    args = parser.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if args.load:
        load_elsewhere(args.out, args.load, methods)
        return 0
    if args.coordinator:
        train_as_one_of_many_processes(
            args.out, methods, args.coordinator, args.processes, args.process
        )
        return 0
    split_host_into_devices(backend)
    train_distributed(args.out, methods, args.model_parallel)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())
