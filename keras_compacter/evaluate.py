"""`keras-compacter evaluate` and `predict`: use a saved adapter on new data.

Both take either `--run DIR` (a `train` output folder: its `run.json` names
the preset, task and sequence lengths, its `adapter.npz` the weights) or
`--preset` and `--adapter` explicitly.
"""

import json
import os
import sys

from keras_compacter import runs


def _load_model(args, run):
    """Check the adapter file, then build the model and load it."""
    import keras_compacter as kc
    from keras_compacter import default

    adapter = args.adapter or (
        os.path.join(args.run, "adapter.npz") if args.run else None
    )
    if adapter is None:
        raise runs.UsageError("Pass --run DIR, or --adapter FILE (and --preset).")
    kc.read_adapter(adapter)  # a wrong or damaged file fails before any model
    preset = args.preset or run.get("preset") or default.preset_path()
    source_length = args.max_source_length or run.get("encoder_sequence_length", 128)
    target_length = args.max_target_length or run.get("decoder_sequence_length", 16)
    model = runs.load_lm(preset, source_length, target_length)
    kc.load_adapter(model, adapter)
    return model, target_length


def _task_from(args, run):
    """The task: from the flags, else the one the run was trained on."""
    spec = dict(run.get("task_spec") or {})
    for key in ("task", "input_columns", "target_column", "metric"):
        if getattr(args, key, None) is None and spec.get(key) is not None:
            setattr(args, key, spec[key])
    if getattr(args, "data_dir", None) is None and args.file is None:
        args.data_dir = spec.get("data_dir")
    if getattr(args, "source", None) is None:
        args.source = spec.get("source")
    return runs.resolve_task(args)


def evaluate_main(args):
    from keras_compacter import tasks

    run = runs.read_run(args.run) if args.run else {}
    task = _task_from(args, run)
    if args.file:
        setattr(args, f"{args.split}_file", args.file)
    examples = runs.load_split(task, args, args.split)
    add_prefix = args.add_prefix or run.get("add_prefix", False)
    sources, targets = tasks.text_pairs(task, examples, add_prefix=add_prefix)
    model, target_length = _load_model(args, run)
    metrics, score, predictions = runs.evaluate_pairs(
        model, task, sources, targets, target_length, args.batch_size
    )
    result = {
        "task": task.name,
        "split": args.split,
        "examples": len(sources),
        "metrics": metrics,
        "score": score,
    }
    print(json.dumps(result))
    if args.output:
        runs.write_json(args.output, result)
    return 0


def predict_main(args):
    """Generate for each input: raw texts (`--text`) or a data file."""
    run = runs.read_run(args.run) if args.run else {}
    if args.text:
        sources = list(args.text)
    elif args.file:
        task = _task_from(args, run)
        add_prefix = args.add_prefix or run.get("add_prefix", False)
        examples = task.load("test", path=args.file)
        if not examples:
            raise runs.DataError(f"{args.file!r} has no examples.")
        sources = [task.to_text(e, add_prefix=add_prefix)[0] for e in examples]
    else:
        raise runs.UsageError(
            "Nothing to predict: pass --text TEXT (repeatable) or --file FILE."
        )
    model, target_length = _load_model(args, run)
    predictions = runs.generate_texts(model, sources, target_length, args.batch_size)
    out = open(args.output, "w") if args.output else sys.stdout
    try:
        for source, prediction in zip(sources, predictions):
            out.write(json.dumps({"input": source, "prediction": prediction}) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    return 0
