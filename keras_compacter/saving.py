"""Adapter files: only what a method trains, checked before it is loaded.

An adapter file is an uncompressed NumPy `.npz` archive (a zip file): a JSON
header (format, method and settings, the base architecture and a fingerprint
of its weights' names and shapes, and the list of arrays) and one float array
per trained variable. Loading uses `allow_pickle=False`: no pickle, no code.
Files are written to a temporary file beside the target and renamed into
place, so a crash never leaves a broken file where a good one was.
"""

import hashlib
import io
import json
import os
import tempfile
import zipfile

import keras
import numpy as np

from keras_compacter.api import inject
from keras_compacter.methods import get_method
from keras_compacter.models.t5.wiring import T5Wiring, adaptations

FORMAT = "keras-compacter-adapter"
FORMAT_VERSION = 1
HEADER = "__header__"
# Settings that do not change which weights exist or what they compute.
NON_STRUCTURAL = ("learning_rate",)


class AdapterFileError(ValueError):
    """An adapter file that is unreadable or does not fit the model."""


def base_fingerprint(named_base_variables):
    """A digest of the base model's weight names and shapes."""
    digest = hashlib.sha256()
    for key, variable in named_base_variables:
        digest.update(f"{key}:{tuple(variable.shape)};".encode())
    return digest.hexdigest()


def structural_settings(config):
    return {k: v for k, v in config.items() if k not in NON_STRUCTURAL}


def save_adapter(model, path):
    """Write what the injected method trains to `path`, atomically.

    Returns:
        The header that was written (a dict).
    """
    state = adaptations(model)
    if state is None:
        raise ValueError(
            "No method is injected into this model; call keras_compacter.inject first."
        )
    wiring = T5Wiring(model)
    arrays, entries = {}, []
    for i, record in enumerate(state.trained):
        name = f"w{i}"
        value = np.asarray(keras.ops.convert_to_numpy(record.variable))
        arrays[name] = value
        entries.append(
            {
                "key": record.key,
                "group": record.group,
                "array": name,
                "shape": list(value.shape),
                "dtype": str(value.dtype),
            }
        )
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "method": state.method.get_config(),
        "architecture": wiring.architecture(),
        "base_fingerprint": base_fingerprint(state.base_variables),
        "weights": entries,
        "saved_with_backend": keras.config.backend(),
    }
    arrays[HEADER] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".adapter-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return header


def read_adapter(path):
    """Read and check an adapter file on its own: `(header, {key: array})`."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AdapterFileError(f"No adapter file at {path!r}.")
    try:
        with open(path, "rb") as f:
            data = f.read()
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            names = set(archive.files)
            if HEADER not in names:
                raise AdapterFileError(
                    f"{path!r} is not a keras-compacter adapter file (no header)."
                )
            header = json.loads(archive[HEADER].tobytes().decode())
            if header.get("format") != FORMAT:
                raise AdapterFileError(
                    f"{path!r} is not a keras-compacter adapter file "
                    f"(format {header.get('format')!r})."
                )
            if header.get("format_version") != FORMAT_VERSION:
                raise AdapterFileError(
                    f"{path!r} has adapter format version "
                    f"{header.get('format_version')}, this library reads "
                    f"{FORMAT_VERSION}."
                )
            weights = {}
            for entry in header["weights"]:
                array = archive[entry["array"]]
                if list(array.shape) != entry["shape"]:
                    raise AdapterFileError(
                        f"{path!r} is damaged: {entry['key']} has shape "
                        f"{list(array.shape)}, its header says {entry['shape']}."
                    )
                weights[entry["key"]] = array
    except AdapterFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as e:
        raise AdapterFileError(
            f"{path!r} is not a readable adapter file (truncated or foreign?): "
            f"{type(e).__name__}: {e}"
        ) from e
    return header, weights


def _check_fits(header, wiring, path):
    expected = wiring.architecture()
    found = header["architecture"]
    diffs = [
        f"{k}: file {found.get(k)!r}, model {expected[k]!r}"
        for k in expected
        if found.get(k) != expected[k]
    ]
    if diffs:
        raise AdapterFileError(
            f"{path!r} was trained on another architecture ({'; '.join(diffs)})."
        )


def load_adapter(model, path):
    """Load an adapter file into `model`.

    On a plain base model the file's method is injected, then its weights
    loaded; on a model that already has the same method (and settings) the
    weights are replaced, which switches tasks. Everything is checked first:
    a file that does not fit raises `AdapterFileError` and leaves the model
    as it was.

    Returns:
        `model`.
    """
    header, weights = read_adapter(path)
    wiring = T5Wiring(model)
    _check_fits(header, wiring, path)
    try:
        config = get_method(header["method"])
    except (ValueError, TypeError) as e:
        raise AdapterFileError(
            f"{path!r} names a method this library lacks: {e}"
        ) from e
    state = adaptations(model)
    if state is None:
        fingerprint = base_fingerprint(wiring.named_base_variables())
    else:
        fingerprint = base_fingerprint(state.base_variables)
        have = structural_settings(state.method.get_config())
        want = structural_settings(config.get_config())
        if have != want:
            diffs = [
                f"{k}: file {want.get(k)!r}, model {have.get(k)!r}"
                for k in sorted(set(have) | set(want))
                if have.get(k) != want.get(k)
            ]
            raise AdapterFileError(
                f"{path!r} holds another method or settings than the model's "
                f"({'; '.join(diffs)})."
            )
    if fingerprint != header["base_fingerprint"]:
        raise AdapterFileError(
            f"{path!r} was trained on a base model whose weights have other "
            "names or shapes than this model's."
        )
    if state is not None:
        _check_weights(state.trained, weights, path)
    else:
        inject(model, config)
        state = adaptations(model)
        # Injection is deterministic: with the architecture and method checked
        # above, the weights match unless the file was forged or damaged.
        _check_weights(state.trained, weights, path)
    for record in state.trained:
        record.variable.assign(weights[record.key].astype(record.variable.dtype))
    return model


def _check_weights(trained, weights, path):
    expected = {r.key: tuple(r.variable.shape) for r in trained}
    found = {k: tuple(v.shape) for k, v in weights.items()}
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    wrong = sorted(k for k in expected if k in found and expected[k] != found[k])
    if missing or extra or wrong:
        raise AdapterFileError(
            f"{path!r} does not fit the model: missing {missing[:3]}, "
            f"unexpected {extra[:3]}, wrong shape {wrong[:3]}."
        )
