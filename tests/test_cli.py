"""The command line: `params` and `export` (from an adapter of this backend)."""

import json
import os
import subprocess
import sys

import keras
import numpy as np

import keras_compacter as kc
from keras_compacter.testing import save_tiny_preset


def test_params_json_for_one_method():
    command = [sys.executable, "-m", "keras_compacter.cli", "params"]
    command += ["--arch", "t5_base_multi", "--method", "compacter++", "--json"]
    out = subprocess.run(command, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = json.loads(out.stdout.strip().splitlines()[-1])
    # PAPER.md: 12+12 blocks, one LPHM adapter each (768 -> 24 -> 768, n=4,
    # r=1), one shared 4x4x4 rule, plus every layer norm (62 of 768).
    per_adapter = (4 * (192 + 6) + 24) + (4 * (6 + 192) + 768)
    expected = 24 * per_adapter + 4**3 + 62 * 768
    assert rows == [
        {
            "method": "compacter++",
            "trainable": expected,
            "total": 222_903_552 + expected - 62 * 768,
            "percent": rows[0]["percent"],
        }
    ]
    assert abs(rows[0]["percent"] - 100 * expected / 222_903_552) < 1e-9


def test_export_command_from_an_adapter_of_this_backend(tmp_path):
    """Adapter saved under the current backend (PyTorch included); the CLI
    re-builds preset + adapter under TensorFlow and writes a SavedModel."""
    preset = str(tmp_path / "preset")
    model = save_tiny_preset(preset, seed=0)
    kc.inject(model, "compacter++", bottleneck_dim=4, phm_dim=2)
    rng = np.random.default_rng(0)
    for record in kc.trained_variables(model):
        v = record.variable
        v.assign(rng.standard_normal(v.shape).astype("float32") * 0.1)
    kc.save_adapter(model, tmp_path / "adapter.npz")
    x = {
        "encoder_token_ids": np.array([[5, 9, 13, 1], [7, 1, 0, 0]], "int32"),
        "encoder_padding_mask": np.array([[1, 1, 1, 1], [1, 1, 0, 0]], "int32"),
        "decoder_token_ids": np.array([[0, 5, 6], [0, 8, 1]], "int32"),
        "decoder_padding_mask": np.ones((2, 3), "int32"),
    }
    want = np.array(keras.ops.convert_to_numpy(model(x)))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "keras_compacter.cli",
            "export",
            "--preset",
            preset,
            "--adapter",
            str(tmp_path / "adapter.npz"),
            "--output",
            str(tmp_path / "saved"),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    assert out.returncode == 0, out.stderr[-3000:]
    np.savez(tmp_path / "x.npz", **x)
    serve = (
        "import numpy as np, tensorflow as tf, tensorflow_text  # noqa\n"
        f"m = tf.saved_model.load({str(tmp_path / 'saved')!r})\n"
        f"x = dict(np.load({str(tmp_path / 'x.npz')!r}))\n"
        "y = m.signatures['serving_default'](**{k: tf.constant(v) "
        "for k, v in x.items()})['logits']\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, y.numpy())\n"
    )
    check = subprocess.run(
        [sys.executable, "-c", serve],
        capture_output=True,
        text=True,
        env=dict(os.environ, KERAS_BACKEND="tensorflow"),
    )
    assert check.returncode == 0, check.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, atol=1e-4)
