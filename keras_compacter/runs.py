"""What `train`, `evaluate` and `predict` share: the task, the model, decoding.

A *run* is a training output folder. `run.json` in it records what the
adapter was trained on (preset, task, sequence lengths), so that
`keras-compacter evaluate --run DIR` and `predict --run DIR` need nothing
else.
"""

import json
import os
import tempfile

from keras_compacter import tasks
from keras_compacter.tasks import DataError

#: GLUE/SuperGLUE tasks the paper trains for 20 epochs (3 for the others).
SMALL_TASKS = ("mrpc", "cola", "stsb", "rte", "boolq", "cb", "copa", "wic")
DEFAULT_TASK = "default"


class UsageError(ValueError):
    """Arguments that cannot work together; the message says what to pass."""


class DefaultTask:
    """The shipped offline task (`keras_compacter/default/`) as a task."""

    metric_names = ("accuracy",)

    def __init__(self):
        from keras_compacter import default

        self._default = default
        self.name = default.TASK_NAME
        targets = [
            default.to_text_to_text("", i)[1] for i in range(len(default.LABELS))
        ]
        self.labels = tuple(targets)

    def load(self, split, data_dir=None, path=None, source="files"):
        if path is not None:  # a file in the same TSV layout, label optional
            reader = tasks.custom_task(
                input_columns=[self._default.TEXT_COLUMN],
                target_column=self._default.LABEL_COLUMN,
            )
            rows = reader.load(split, path=path)
            return [
                {
                    "sentence": r[self._default.TEXT_COLUMN],
                    "label": _label(r.get(self._default.LABEL_COLUMN), path),
                }
                for r in rows
            ]
        if split not in ("train", "validation"):
            raise DataError(
                f"The default task has the splits 'train' and 'validation', "
                f"not {split!r}; pass a file of your own for other data."
            )
        return [{"sentence": s, "label": y} for s, y in self._default.read_split(split)]

    def to_text(self, example, add_prefix=False):
        return self._default.to_text_to_text(
            example["sentence"], example.get("label"), add_prefix=add_prefix
        )

    def pairs(self, example, add_prefix=False):
        return [(*self.to_text(example, add_prefix), None)]

    def check_target(self, target, where):
        if target not in self.labels:
            raise DataError(
                f"{where}: unknown label {target!r} for the default task; valid "
                f"labels: {', '.join(self.labels)}."
            )

    def score(self, predictions, targets, references=None):
        from keras_compacter.tasks.metrics import accuracy

        return {"accuracy": float(accuracy(predictions, targets)["accuracy"])}

    def main_score(self, metrics):
        return metrics["accuracy"]


def _label(value, path):
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise DataError(
            f"{path!r}: the default task's labels are class indices, got {value!r}."
        ) from None


def resolve_task(args):
    """The task the arguments name: `(task, label_of_the_data)`."""
    columns = getattr(args, "input_columns", None)
    target = getattr(args, "target_column", None)
    name = args.task
    if columns or target:
        if not (columns and target):
            raise UsageError(
                "A custom task needs both --input-columns (comma-separated) "
                "and --target-column."
            )
        if name not in (None, "custom"):
            raise UsageError(
                f"--input-columns/--target-column define a custom task; drop "
                f"--task {name} (its columns are fixed) or drop them."
            )
        return tasks.custom_task(
            input_columns=[c.strip() for c in columns.split(",") if c.strip()],
            target_column=target,
            metric=args.metric or "accuracy",
        )
    if name in (None, DEFAULT_TASK):
        if args.data_dir or args.train_file or args.validation_file:
            raise UsageError(
                "Data files were given without a task: pass --task NAME "
                f"({', '.join(tasks.names())}) or --input-columns and "
                "--target-column for your own columns."
            )
        return DefaultTask()
    return tasks.get_task(name)


def load_split(task, args, split):
    """Examples of `split` as the arguments say where to read them."""
    if isinstance(task, DefaultTask):
        return task.load(split)
    path = {
        "train": getattr(args, "train_file", None),
        "validation": getattr(args, "validation_file", None),
        "test": getattr(args, "test_file", None),
    }.get(split)
    source = getattr(args, "source", None) or "files"
    if path is None and args.data_dir is None and source == "files":
        raise UsageError(
            f"No data for the {split} split of {task.name!r}: pass --data-dir "
            f"(the official folder), --{split}-file, or --source tfds|hf to "
            "load it by name."
        )
    return task.load(split, data_dir=args.data_dir, path=path, source=source)


def load_lm(preset, encoder_length, decoder_length):
    """A `T5Seq2SeqLM` from a preset name or folder, with sequence lengths.

    KerasHub does not keep a preprocessor's sequence lengths in a preset
    (they come back as 1024), so they are passed here.
    """
    import keras_hub

    preprocessor = keras_hub.models.T5Seq2SeqLMPreprocessor.from_preset(
        preset,
        encoder_sequence_length=encoder_length,
        decoder_sequence_length=decoder_length,
    )
    return keras_hub.models.T5Seq2SeqLM.from_preset(preset, preprocessor=preprocessor)


def target_length(preprocessor, targets, cap=128):
    """Decoder length that fits every target: start token + pieces + end."""
    import keras

    unique = sorted(set(targets))[:2000]
    longest = 0
    for text in unique:
        ids = keras.ops.convert_to_numpy(preprocessor.tokenizer(text))
        longest = max(longest, int(ids.shape[-1]))
    return min(cap, longest + 2)


def generate_texts(model, sources, max_length, batch_size=64, generate=None):
    """Greedy (or the compiled sampler's) generation, in batches.

    `generate(model, inputs, max_length=...)` replaces `model.generate`
    (e.g. `Replicas.generate` of `keras_compacter.distribution`).
    """
    outputs = []
    for start in range(0, len(sources), batch_size):
        batch = list(sources[start : start + batch_size])
        if generate is None:
            out = model.generate(batch, max_length=max_length)
        else:
            out = generate(model, batch, max_length=max_length)
        outputs.extend([out] if isinstance(out, str) else list(out))
    return [o.strip() for o in outputs]


def evaluate_pairs(
    model, task, sources, targets, max_length, batch_size=64, generate=None
):
    """`(metrics, main score, predictions)` of `model` on text pairs."""
    predictions = generate_texts(model, sources, max_length, batch_size, generate)
    metrics = task.score(predictions, targets)
    return metrics, task.main_score(metrics), predictions


def write_json(path, value):
    """Write JSON atomically (a reader never sees half a file)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(value, f, indent=2)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read_run(folder):
    path = os.path.join(folder, "run.json")
    if not os.path.isfile(path):
        raise UsageError(
            f"{folder!r} is not a training run folder (no run.json); pass the "
            "--output folder of `keras-compacter train`, or --preset and --adapter."
        )
    with open(path) as f:
        return json.load(f)
