"""Offline default assets: a tiny WordNet-pretrained T5 and a small task.

Everything here is derived from WordNet 3.0 (see `LICENSE.wordnet` and
`README.md` in this folder) and built by `examples/make_offline_default.py`:

* `t5_wordnet/` - a KerasHub preset of a tiny `T5Seq2SeqLM` (3 encoder +
  3 decoder layers, hidden 128, 1.64M parameters, 6.8 MiB; a SentencePiece
  vocabulary of 2048 ids with T5's special ids pad=0, eos=1, unk=2 and 100
  `<extra_id_N>` sentinels at the end of the vocabulary), pretrained with
  T5's span-corruption objective on WordNet glosses and example sentences.
* `supersense/{train,dev}.tsv` - the downstream task, never seen during
  pretraining: classify the WordNet *supersense* (lexicographer file) of a
  noun from its definition, in GLUE single-sentence TSV format (like SST-2:
  a `sentence\\tlabel` header, then one example per line, label = index into
  `LABELS`); its text-to-text targets are `TARGETS` ("animal", ...).
* `EPOCHS`, `LEARNING_RATES`, `METHOD_SETTINGS` - the settings of the default
  run.

This module imports nothing heavy; `load_model()` imports `keras_hub` lazily.
"""

import csv
import os

_HERE = os.path.dirname(os.path.abspath(__file__))

#: Name of the downstream task (used as the text-to-text task prefix).
TASK_NAME = "wordnet_supersense"
#: Label names; the label column holds the index into this tuple.
LABELS = (
    "noun.animal",
    "noun.artifact",
    "noun.body",
    "noun.food",
    "noun.person",
    "noun.plant",
)
#: Target strings of the text-to-text format, one per label: the supersense
#: names without their `noun.` prefix. Natural words, not the label index
#: ("0".."5") of the paper's SST-2 format: the tiny model learns to produce a
#: word it has seen in pretraining much faster than an arbitrary digit (see
#: `README.md` for the measured comparison).
TARGETS = tuple(label.split(".", 1)[1] for label in LABELS)
#: Columns of the task TSV files (GLUE SST-2 layout).
TEXT_COLUMN = "sentence"
LABEL_COLUMN = "label"
#: Sequence lengths for the task. Sources ("sentence: <definition>" + eos)
#: are 24 tokens at the median and 47 at the 95th percentile (60 at the 99th);
#: 48 keeps 95% of them whole and costs a quarter less than 64, which matters
#: for the 5-minute default run. The longest target ("artifact") is 3 tokens,
#: plus the decoder start token and eos.
ENCODER_SEQUENCE_LENGTH = 48
DECODER_SEQUENCE_LENGTH = 8

#: Epochs of the default run (`keras-compacter train` on this task), chosen
#: so that the run stays within 5 minutes on 2 CPU cores (see README.md).
EPOCHS = 8
#: Learning rates of the default run, by method (`train` uses these when it
#: runs on this task without `--lr`). The paper's rates are tuned for T5-base
#: and 3-20 epochs of large datasets; this tiny model and a run of 600 steps
#: need larger ones. Tried on this task: Compacter++ (3e-2, best of 1e-2,
#: 3e-2, 6e-2) and Intrinsic-SAID (the paper's 3e-2; at 0.3 it stayed at the
#: majority class). The others were not tuned (most use 10x the paper's rate). The
#: measurements are in this folder's README ("Learning rates").
LEARNING_RATES = {
    "full": 1e-3,
    "compacter++": 3e-2,
    "compacter": 3e-2,
    "phm-adapter": 3e-2,
    "adapter-lowrank": 3e-2,
    "adapter": 3e-3,
    "pfeiffer-adapter": 3e-3,
    "adapterdrop": 3e-3,
    "bitfit": 3e-3,
    "lora": 5e-3,
    "prompt-tuning": 0.3,
    "intrinsic-said": 3e-2,
}

#: Method settings of the default run where the paper's, made for T5-base
#: (hidden 768, 12 layers per stack), do not fit this model. PHM-Adapter's
#: n = 12 must divide the hidden size (128) and the bottleneck (128 / 32 = 4):
#: n = 4, Compacter's. AdapterDrop drops the lowest 5 of 12 layers of each
#: stack: here the lowest 1 of 3. `train --set KEY=VALUE` overrides them.
METHOD_SETTINGS = {
    "phm-adapter": {"phm_dim": 4},
    "adapterdrop": {"dropped_layers": 1},
}


def preset_path() -> str:
    """Path of the shipped KerasHub preset folder (`T5Seq2SeqLM`)."""
    return os.path.join(_HERE, "t5_wordnet")


def task_files() -> dict:
    """Paths of the task splits: `{"train": ..., "validation": ...}`."""
    folder = os.path.join(_HERE, "supersense")
    return {
        "train": os.path.join(folder, "train.tsv"),
        "validation": os.path.join(folder, "dev.tsv"),
    }


def read_split(split: str) -> list:
    """Read one split as a list of `(sentence, label_index)` tuples."""
    rows = []
    with open(task_files()[split], encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        for row in reader:
            rows.append((row[TEXT_COLUMN], int(row[LABEL_COLUMN])))
    return rows


def to_text_to_text(sentence: str, label=None, add_prefix: bool = False):
    """Compacter-style text-to-text pair, as for SST-2.

    Returns `(source, target)` with source `"sentence: <sentence>"` (prefixed
    by the task name when `add_prefix`) and target `TARGETS[label]`, e.g.
    `"animal"` (`None` when `label` is `None`).
    """
    source = f"sentence: {sentence}"
    if add_prefix:
        source = f"{TASK_NAME} {source}"
    return source, (None if label is None else TARGETS[int(label)])


def load_model(
    encoder_sequence_length: int = ENCODER_SEQUENCE_LENGTH,
    decoder_sequence_length: int = DECODER_SEQUENCE_LENGTH,
):
    """Load the preset as a `keras_hub.models.T5Seq2SeqLM`.

    KerasHub does not store the preprocessor's sequence lengths in a preset
    (they default to 1024), so they are set here.
    """
    import keras_hub

    model = keras_hub.models.T5Seq2SeqLM.from_preset(preset_path())
    model.preprocessor.encoder_sequence_length = encoder_sequence_length
    model.preprocessor.decoder_sequence_length = decoder_sequence_length
    return model
