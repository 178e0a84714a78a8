"""Offline default assets: a tiny WordNet-pretrained T5 and a small task.

Everything here is derived from WordNet 3.0 (see `LICENSE.wordnet` and
`README.md` in this folder) and built by `examples/make_offline_default.py`:

* `t5_wordnet/` - a KerasHub preset of a tiny `T5Seq2SeqLM` (hidden 128;
  the shipped build is a 1+1-layer pilot), a SentencePiece vocabulary of
  2048 ids with T5's special ids
  pad=0, eos=1, unk=2 and 100 `<extra_id_N>` sentinels at the end of the
  vocabulary), pretrained with T5's span-corruption objective on WordNet
  glosses and example sentences.
* `supersense/{train,dev}.tsv` - the downstream task, never seen during
  pretraining: classify the WordNet *supersense* (lexicographer file) of a
  noun from its definition, in GLUE single-sentence TSV format (like SST-2:
  a `sentence\\tlabel` header, then one example per line, label = index into
  `LABELS`).

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
#: Columns of the task TSV files (GLUE SST-2 layout).
TEXT_COLUMN = "sentence"
LABEL_COLUMN = "label"
#: Sequence lengths that fit the task (99th percentile of the inputs).
ENCODER_SEQUENCE_LENGTH = 64
DECODER_SEQUENCE_LENGTH = 4


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
    by the task name when `add_prefix`) and target the label index as a
    string (`None` when `label` is `None`).
    """
    source = f"sentence: {sentence}"
    if add_prefix:
        source = f"{TASK_NAME} {source}"
    return source, (None if label is None else str(int(label)))


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
