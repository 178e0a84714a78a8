"""`keras-compacter train`: fine-tune T5 with a method, keep the best adapter.

With no arguments it runs offline on the shipped default: a tiny T5
pretrained on WordNet and a WordNet supersense classification task (see
`keras_compacter/default/README.md`). Otherwise it reads a GLUE/SuperGLUE
task (`--task`, from the official files in `--data-dir` or by name with
`--source tfds|hf`) or any CSV/TSV/JSONL (`--input-columns`,
`--target-column`).

Everything that can be checked is checked before the model is built: the
data (files, columns, labels, empty splits) and the method and its settings.
The best adapter is saved atomically each time the validation score
improves, so stopping the run (Ctrl-C) leaves the last best adapter intact.
"""

import contextlib
import json
import os
import time

import keras
import numpy as np

from keras_compacter import runs


def parse_settings(items):
    """`["reduction_factor=16", "phm_dim=8"]` -> `{"reduction_factor": 16, ...}`."""
    settings = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise runs.UsageError(
                f"--set takes KEY=VALUE (a method setting), got {item!r}."
            )
        try:
            settings[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            settings[key.strip()] = value
    return settings


def _method(args, task):
    """The method with its settings: `--set`, over the default run's own."""
    from keras_compacter.methods import get_method

    settings = {}
    if isinstance(task, runs.DefaultTask):
        from keras_compacter import default

        settings.update(default.METHOD_SETTINGS.get(args.method, {}))
    settings.update(parse_settings(args.set))
    try:
        return get_method(args.method, **settings)
    except TypeError as e:  # an unknown setting: the message lists the valid
        raise runs.UsageError(str(e)) from e


def _majority(task, train_targets, valid_targets):
    """Score of always answering the most frequent training target."""
    if getattr(task, "labels", None) is None:
        return None
    top = max(set(train_targets), key=train_targets.count)
    metrics = task.score([top] * len(valid_targets), valid_targets)
    return {"target": top, "metrics": metrics, "score": task.main_score(metrics)}


@keras.saving.register_keras_serializable(package="keras_compacter")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak`, then linear decay to 0 (the paper's schedule)."""

    def __init__(self, peak, total_steps, warmup_steps):
        self.peak = peak
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warm = step / max(1, self.warmup_steps)
        decay = (self.total_steps - step) / max(1, self.total_steps - self.warmup_steps)
        factor = keras.ops.where(step < self.warmup_steps, warm, decay)
        return self.peak * keras.ops.clip(factor, 0.0, 1.0)

    def get_config(self):
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
        }


def prepare(args):
    """Read and check everything a run needs before any model is built."""
    task = runs.resolve_task(args)
    add_prefix = bool(getattr(args, "add_prefix", False))
    train_examples = runs.load_split(task, args, "train")
    valid_examples = runs.load_split(task, args, "validation")
    test = None
    if getattr(args, "paper_splits", False):
        if isinstance(task, runs.DefaultTask):
            raise runs.UsageError(
                "--paper-splits applies to the GLUE/SuperGLUE tasks (--task); "
                "the default task has its own train and validation files."
            )
        from keras_compacter import tasks

        train_examples, valid_examples, test_examples = tasks.paper_splits(
            task, train_examples, valid_examples, seed=args.seed
        )
        test = _pairs(task, test_examples, add_prefix, "test")
    train = _pairs(task, train_examples, add_prefix, "train")
    valid = _pairs(task, valid_examples, add_prefix, "validation")
    method = _method(args, task)
    return task, train, valid, test, method


def _pairs(task, examples, add_prefix, split):
    from keras_compacter import tasks

    try:
        return tasks.text_pairs(task, examples, add_prefix=add_prefix)
    except tasks.DataError as e:
        raise tasks.DataError(f"{split} split: {e}") from e


def _defaults(args, task, method):
    """Epochs, learning rate, source length: flags, else the defaults."""
    from keras_compacter import default

    if isinstance(task, runs.DefaultTask):
        epochs = args.epochs or getattr(default, "EPOCHS", 3)
        lrs = getattr(default, "LEARNING_RATES", {})
        lr = args.lr or lrs.get(method.name, method.default_learning_rate)
        source_length = args.max_source_length or default.ENCODER_SEQUENCE_LENGTH
    else:
        epochs = args.epochs or (20 if task.name in runs.SMALL_TASKS else 3)
        lr = args.lr or method.default_learning_rate
        source_length = args.max_source_length or 128
    return epochs, lr, source_length


def main(args):
    task, train, valid, test, method = prepare(args)
    scope = contextlib.nullcontext()
    if getattr(args, "data_parallel", False):
        from keras_compacter import distribution

        # Model creation through fit inside the scope: every variable is
        # created on every device.
        scope = distribution.data_parallel()
    with scope as replicas:
        return _run(args, task, train, valid, test, method, replicas)


def _run(args, task, train, valid, test, method, replicas):
    import keras_compacter as kc
    from keras_compacter import default

    epochs, lr, source_length = _defaults(args, task, method)
    keras.utils.set_random_seed(args.seed)
    preset = args.preset or default.preset_path()
    # Examples per epoch: with several devices, as many as split evenly into
    # batches (a batch that does not split is an error on JAX and a wrong
    # gradient on TensorFlow); at most `devices - 1` are left out per epoch.
    per_epoch = len(train[0])
    generate = None
    if replicas is not None:
        try:
            per_epoch = replicas.even_examples(per_epoch, args.batch_size)
        except ValueError as e:
            raise runs.UsageError(f"--batch-size: {e}") from e
        generate = replicas.generate
        print(
            f"Data parallel over {replicas.count} devices "
            f"({replicas.num_processes} process(es)); global batch "
            f"{args.batch_size}, {per_epoch} of {len(train[0])} examples per epoch."
        )
    model = runs.load_lm(preset, source_length, 8)
    target_len = runs.target_length(model.preprocessor, train[1] + valid[1])
    model.preprocessor.decoder_sequence_length = target_len
    majority = _majority(task, train[1], valid[1])

    try:
        kc.inject(model, method)
    except ValueError as e:  # the method does not fit this model's sizes
        raise runs.UsageError(
            f"{method.name} does not fit this model: {e} (change it with "
            "--set KEY=VALUE, or pick another --method)"
        ) from e
    if replicas is not None:
        from keras_compacter import distribution

        distribution.integer_masks(model)
    summary = kc.summary(model)
    steps = epochs * -(-per_epoch // args.batch_size)
    warmup = (
        args.warmup_steps if args.warmup_steps is not None else min(500, steps // 10)
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(
            WarmupLinearDecay(lr, steps, warmup), weight_decay=0.0
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[],
        sampler="greedy",
    )
    out = args.output
    os.makedirs(out, exist_ok=True)
    adapter_path = os.path.join(out, "adapter.npz")
    runs.write_json(os.path.join(out, "summary.json"), dict(summary))
    runs.write_json(
        os.path.join(out, "run.json"),
        {
            "preset": os.path.abspath(preset) if os.path.isdir(preset) else preset,
            "task": task.name,
            "task_spec": _task_spec(args),
            "add_prefix": bool(getattr(args, "add_prefix", False)),
            "method": method.get_config(),
            "encoder_sequence_length": source_length,
            "decoder_sequence_length": target_len,
            "epochs": epochs,
            "learning_rate": lr,
            "warmup_steps": warmup,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "backend": keras.config.backend(),
            "train_examples": len(train[0]),
            "validation_examples": len(valid[0]),
        },
    )
    # KerasHub preprocesses string inputs into a tf.data pipeline, which `fit`
    # does not shuffle: shuffle each epoch here (seeded).
    rng = np.random.default_rng(args.seed)
    history, best = [], None
    print(
        f"Training {method.name} on {task.name}: {len(train[0])} examples, "
        f"{epochs} epochs, lr {lr:g}, batch {args.batch_size}."
    )
    try:
        for epoch in range(1, epochs + 1):
            start = time.time()
            order = rng.permutation(len(train[0]))[:per_epoch]
            x = {
                "encoder_text": [train[0][i] for i in order],
                "decoder_text": [train[1][i] for i in order],
            }
            batch_size = args.batch_size
            if replicas is not None:  # this process's share (several hosts)
                x = replicas.local_part(x)
                batch_size = replicas.local_batch_size(batch_size)
            fit = model.fit(
                x,
                batch_size=batch_size,
                epochs=1,
                shuffle=False,  # shuffled above
                verbose=args.verbose,
            )
            train_seconds = time.time() - start
            metrics, score, _ = runs.evaluate_pairs(
                model,
                task,
                valid[0],
                valid[1],
                target_len,
                args.eval_batch_size,
                generate,
            )
            record = {
                "epoch": epoch,
                "loss": float(fit.history["loss"][-1]),
                "validation": metrics,
                "score": score,
                "train_seconds": round(train_seconds, 1),
                "seconds": round(time.time() - start, 1),
            }
            history.append(record)
            print(json.dumps(record))
            if best is None or score > best["score"]:
                best = record
                if replicas is None or replicas.process_id == 0:
                    kc.save_adapter(model, adapter_path)
            runs.write_json(
                os.path.join(out, "metrics.json"),
                {"epochs": history, "best": best, "majority": majority},
            )
    except KeyboardInterrupt:
        print(
            f"\nInterrupted. The best adapter so far is intact in {adapter_path}"
            if best
            else "\nInterrupted before the first evaluation; no adapter saved."
        )
        return 130
    result = {"epochs": history, "best": best, "majority": majority}
    if test is not None:
        kc.load_adapter(model, adapter_path)
        metrics, score, _ = runs.evaluate_pairs(
            model, task, test[0], test[1], target_len, args.eval_batch_size, generate
        )
        result["test"] = {"metrics": metrics, "score": score}
        print(json.dumps({"test": result["test"]}))
    runs.write_json(os.path.join(out, "metrics.json"), result)
    baseline = (
        f" (majority class {majority['score']:.1f})" if majority is not None else ""
    )
    print(
        f"{method.name}: best validation score {best['score']:.1f}{baseline} "
        f"at epoch {best['epoch']}, training {summary['percent']:.3f}% of the "
        f"parameters; adapter in {adapter_path}"
    )
    if args.export:
        _export(model, adapter_path, preset, os.path.join(out, "saved_model"))
    return 0


def _task_spec(args):
    """Enough to find the data again for `evaluate`."""
    return {
        key: getattr(args, key, None)
        for key in (
            "task",
            "data_dir",
            "source",
            "input_columns",
            "target_column",
            "metric",
        )
    }


def _export(model, adapter_path, preset, folder):
    import subprocess
    import sys

    import keras_compacter as kc

    if keras.config.backend() in ("tensorflow", "jax"):
        from keras_compacter.export import export_saved_model

        kc.load_adapter(model, adapter_path)
        export_saved_model(model, folder)
    else:  # PyTorch cannot write a SavedModel: rebuild under TensorFlow.
        command = [sys.executable, "-m", "keras_compacter.cli", "export"]
        command += ["--preset", preset, "--adapter", adapter_path]
        command += ["--output", folder, "--backend", "tensorflow"]
        subprocess.run(command, check=True)
    print(f"Exported a SavedModel to {folder}")
