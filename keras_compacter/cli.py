"""The `keras-compacter` command line."""

import argparse
import json
import os
import subprocess
import sys


def parameter_table(arch, methods=None):
    """`[{method, trainable, total, percent}]` for `arch`, without weights."""
    import keras_hub

    import keras_compacter as kc
    from keras_compacter.models.t5.architectures import deferred_weights

    rows = []
    for name in methods or list(kc.methods()):
        with deferred_weights():
            backbone = kc.t5_backbone(arch)
        # The task compiles (an optimizer variable) as it is made: outside.
        model = keras_hub.models.T5Seq2SeqLM(backbone=backbone)
        try:
            with deferred_weights():
                kc.inject(model, name)
        except ValueError as e:  # e.g. phm_dim=12 does not divide T5-small
            rows.append({"method": name, "error": str(e)})
            continue
        s = kc.summary(model, print_fn=None)
        rows.append(
            {
                "method": name,
                "trainable": s["trainable"],
                "total": s["total"],
                "percent": s["percent"],
            }
        )
    return rows


def _rerun_under(backend):
    """Run this same command in a subprocess with `KERAS_BACKEND=backend`."""
    env = dict(os.environ, KERAS_BACKEND=backend)
    argv = [sys.executable, "-m", "keras_compacter.cli", *sys.argv[1:]]
    return subprocess.run(argv, env=env).returncode


def cmd_params(args):
    import keras

    if keras.config.backend() == "torch":
        # Counts do not depend on the backend, but Keras's torch layers cannot
        # track variables that are never allocated: count under TensorFlow
        # (which KerasHub always installs).
        return _rerun_under("tensorflow")
    rows = parameter_table(args.arch, args.method)
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'method':<18}{'trainable':>14}{'total':>16}{'percent':>10}")
    for r in rows:
        if "error" in r:
            print(f"{r['method']:<18}  not applicable: {r['error']}")
            continue
        print(
            f"{r['method']:<18}{r['trainable']:>14,}{r['total']:>16,}"
            f"{r['percent']:>9.4f}%"
        )
    return 0


def cmd_export(args):
    """Rebuild preset + adapter under an exporting backend; write a SavedModel."""
    import keras

    backend = args.backend or (
        keras.config.backend()
        if keras.config.backend() in ("tensorflow", "jax")
        else "tensorflow"
    )
    if backend != keras.config.backend():
        return _rerun_under(backend)
    import keras_hub

    import keras_compacter as kc
    from keras_compacter.export import export_saved_model

    model = keras_hub.models.T5Seq2SeqLM.from_preset(args.preset)
    if args.adapter:
        kc.load_adapter(model, args.adapter)
    export_saved_model(model, args.output)
    print(f"Wrote a SavedModel to {args.output} (exported with {backend}).")
    return 0


def cmd_train(args):
    from keras_compacter.train import main as train_main

    return train_main(args)


PAPER_SPLITS = (
    "split as the paper's code does (validation carved out of the training "
    "or validation data; the official validation data becomes the test split)"
)


def _add_data_arguments(p):
    p.add_argument(
        "--task", default=None, help="a GLUE/SuperGLUE task name; default: offline"
    )
    p.add_argument("--data-dir", help="the task's official folder (GLUE TSV, ...)")
    p.add_argument("--train-file")
    p.add_argument("--validation-file")
    p.add_argument("--source", choices=("files", "tfds", "hf"), default=None)
    p.add_argument("--input-columns", help="custom data: comma-separated columns")
    p.add_argument("--target-column", help="custom data: the target column")
    p.add_argument("--metric", default=None, help="custom data: the metric")
    p.add_argument(
        "--add-prefix", action="store_true", help="prefix inputs with the task name"
    )


def cmd_evaluate(args):
    from keras_compacter.evaluate import evaluate_main

    return evaluate_main(args)


def cmd_predict(args):
    from keras_compacter.evaluate import predict_main

    return predict_main(args)


def _user_errors():
    """Errors that mean bad input: printed as one line, exit status 2."""
    from keras_compacter.api import AlreadyInjectedError
    from keras_compacter.distribution import DistributionUnsupportedError
    from keras_compacter.methods import UnknownMethodError
    from keras_compacter.models.t5.wiring import UnsupportedModelError
    from keras_compacter.runs import UsageError
    from keras_compacter.saving import AdapterFileError
    from keras_compacter.tasks import DataError, UnknownTaskError

    return (
        AdapterFileError,
        AlreadyInjectedError,
        DataError,
        DistributionUnsupportedError,
        UnknownMethodError,
        UnknownTaskError,
        UnsupportedModelError,
        UsageError,
    )


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-compacter",
        description="Parameter-efficient fine-tuning of KerasHub T5.",
    )
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("params", help="Count what each method trains.")
    p.add_argument("--arch", default="t5_base_multi")
    p.add_argument("--method", action="append", help="repeatable; default all")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_params)

    p = sub.add_parser("export", help="Write a TF SavedModel from any backend.")
    p.add_argument("--preset", required=True)
    p.add_argument("--adapter")
    p.add_argument("--output", required=True)
    p.add_argument("--backend", choices=("tensorflow", "jax"))
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "train",
        help="Fine-tune T5 with a method (no arguments: the offline default).",
        description="Fine-tune T5 with a method and keep the best adapter. "
        "With no data arguments it runs offline on the shipped default.",
    )
    p.add_argument("--preset", default=None, help="default: the shipped tiny T5")
    p.add_argument("--method", default="compacter++")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="a method setting, repeatable (e.g. --set reduction_factor=16)",
    )
    _add_data_arguments(p)
    p.add_argument("--paper-splits", action="store_true", help=PAPER_SPLITS)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--eval-batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=None, help="default: the paper's")
    p.add_argument("--warmup-steps", type=int, default=None)
    p.add_argument("--max-source-length", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default="runs/default")
    p.add_argument("--export", action="store_true", help="also write a SavedModel")
    p.add_argument(
        "--data-parallel",
        action="store_true",
        help="train on all local devices (JAX, TensorFlow); --batch-size is global",
    )
    p.add_argument("--verbose", type=int, default=1, help="fit's verbosity")
    p.set_defaults(func=cmd_train)

    for name, helptext in (
        ("evaluate", "Score a saved adapter on a split."),
        ("predict", "Generate with a saved adapter."),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--run", help="a train output folder (has run.json)")
        p.add_argument("--preset")
        p.add_argument("--adapter")
        _add_data_arguments(p)
        p.add_argument("--file", help="one data file (TSV/CSV/JSONL)")
        p.add_argument("--max-source-length", type=int, default=None)
        p.add_argument("--max-target-length", type=int, default=None)
        p.add_argument("--batch-size", type=int, default=64)
        p.add_argument("--output", help="write the result here")
        if name == "evaluate":
            p.add_argument("--split", default="validation")
            p.set_defaults(func=cmd_evaluate)
        else:
            p.add_argument("--text", action="append", help="an input, repeatable")
            p.set_defaults(func=cmd_predict)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except _user_errors() as e:
        print(f"keras-compacter {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
