"""Training on many devices with Keras's distribution machinery.

The device count is fixed when the framework starts, so the two-device runs
happen in a subprocess (`distribution_worker.py`: two virtual CPU devices)
under this process's backend, while this process trains the same tiny
models on one device for reference. They run once per backend, on JAX
(`keras.distribution.DataParallel`, `ModelParallel`) and TensorFlow
(`tf.distribute.MirroredStrategy`); on PyTorch, where Keras has no
distribution, the clear error is tested instead.
"""

import json
import os
import subprocess
import sys

import distribution_worker as worker
import keras
import numpy as np
import pytest

import keras_compacter as kc
from keras_compacter import distribution
from keras_compacter.distribution import (
    DistributionUnsupportedError,
    Replicas,
    data_parallel,
)
from keras_compacter.saving import read_adapter

BACKEND = keras.config.backend()
DISTRIBUTES = BACKEND in ("jax", "tensorflow")
needs_distribution = pytest.mark.skipif(
    not DISTRIBUTES, reason="Keras has no distribution for this backend"
)
jax_only = pytest.mark.skipif(BACKEND != "jax", reason="ModelParallel is JAX only")

# Methods compared between two devices and one (every backend that
# distributes): the shared-rule adapters and the Dense biases.
METHODS = ("compacter++", "bitfit")

# Two steps of SGD on two devices against one, float32. Measured: the trained
# weights differ by at most 1.2e-7 (Compacter++, both backends, also under
# ModelParallel) and 3e-8 (BitFit), after moving by about 9e-3 (Compacter++)
# and 0.47 (BitFit); the logits (up to ~3.4) by at most 1.9e-6.
TRAINED_ATOL = 5e-6
LOGITS_ATOL = 2e-5


# --- No devices needed ----------------------------------------------------------


def test_replicas_batches_split_evenly():
    replicas = Replicas(2, ("cpu:0", "cpu:1"), None)
    assert replicas.check_batch_size(8) == 8
    with pytest.raises(ValueError, match="multiple of 2"):
        replicas.check_batch_size(3)
    assert replicas.even_examples(7, 4) == 6  # batches of 4 and 2
    assert replicas.even_examples(9, 4) == 8
    assert replicas.even_examples(10, 4) == 10
    data = {"encoder_text": ["a", "b", "c", "d"]}
    assert replicas.local_part(data) is data  # one process
    assert replicas.local_batch_size(8) == 8
    second_host = Replicas(4, ("cpu:0",) * 4, None, num_processes=2, process_id=1)
    assert second_host.local_part(data) == {"encoder_text": ["b", "d"]}
    assert second_host.local_part(np.arange(8)).tolist() == [1, 3, 5, 7]
    assert second_host.local_batch_size(8) == 4


def test_replicas_generate_pads_an_odd_batch():
    class Model:
        def generate(self, inputs, **kwargs):
            self.seen = inputs
            if isinstance(inputs, dict):
                return inputs
            return [f"<{x}>" for x in inputs]

    replicas, model = Replicas(4, ("cpu:0",) * 4, None), Model()
    assert replicas.generate(model, ["a", "b", "c"]) == ["<a>", "<b>", "<c>"]
    assert model.seen == ["a", "b", "c", "c"]
    ids = {"token_ids": np.arange(10).reshape(5, 2)}
    out = replicas.generate(model, ids)
    assert model.seen["token_ids"].shape == (8, 2)
    np.testing.assert_array_equal(out["token_ids"], ids["token_ids"])
    assert replicas.generate(model, "a") == ["<a>"]


@pytest.mark.parametrize(
    "arch, method", [("t5_small_multi", "compacter++"), ("flan_small_multi", "lora")]
)
def test_layout_map_shards_the_base_and_replicates_what_trains(arch, method):
    """Every big base weight matches a sharding key; no method weight does."""
    from keras_compacter.testing import tiny_t5_seq2seq_lm

    mesh = keras.distribution.DeviceMesh(
        shape=(1, 2), axis_names=("batch", "model"), devices=["cpu:0", "cpu:1"]
    )
    layout_map = distribution.t5_layout_map(mesh)
    model = tiny_t5_seq2seq_lm(arch, proto=worker.proto(), hidden_dim=128)
    sharded = {
        v.path: layout_map[v.path].axes for v in model.weights if layout_map[v.path]
    }
    big = [v for v in model.weights if len(v.shape) == 2 and min(v.shape) > 2]
    assert {v.path for v in big} == set(sharded), "unsharded base matrices"
    for v in big:
        assert v.shape[sharded[v.path].index("model")] % 2 == 0
    if arch == "flan_small_multi":  # gated feed-forward, untied output head
        assert any(p.endswith("gate_projector/kernel") for p in sharded)
        assert sharded["token_embedding/reverse_embeddings"] == (None, "model")
    kc.inject(model, method)
    trained = [r.variable.path for r in kc.trained_variables(model)]
    # BitFit's biases and the prompt, by the paths they get.
    trained += [
        "transformer_encoder_layer_0/self_attention/query_projector/bias",
        "transformer_decoder_layer_1/output_projector/bias",
        "prompt_embedding/embeddings",
    ]
    for path in trained:
        assert layout_map[path] is None, path


# --- PyTorch and TensorFlow: what Keras does not offer ---------------------------


@pytest.mark.skipif(BACKEND != "torch", reason="PyTorch only")
def test_torch_refuses_with_a_clear_error():
    with pytest.raises(DistributionUnsupportedError, match="KERAS_BACKEND=jax"):
        with data_parallel():
            pass
    with pytest.raises(DistributionUnsupportedError, match="no distribution"):
        distribution.t5_model_parallel()
    with pytest.raises(DistributionUnsupportedError, match="PyTorch"):
        distribution.local_devices()


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow only")
def test_model_parallel_needs_jax():
    with pytest.raises(DistributionUnsupportedError, match="JAX"):
        distribution.t5_model_parallel()


# --- The scope itself, on this process's one device ------------------------------


@needs_distribution
def test_scope_is_entered_and_left():
    if BACKEND == "jax":
        assert keras.distribution.distribution() is None
        with pytest.raises(RuntimeError, match="inside"):
            with data_parallel() as replicas:
                assert keras.distribution.distribution() is replicas.backend_object
                assert isinstance(
                    replicas.backend_object, keras.distribution.DataParallel
                )
                raise RuntimeError("inside")
        assert keras.distribution.distribution() is None
    else:
        import tensorflow as tf

        with data_parallel() as replicas:
            assert tf.distribute.get_strategy() is replicas.backend_object
            assert isinstance(replicas.backend_object, tf.distribute.MirroredStrategy)
        assert not tf.distribute.has_strategy()
    assert replicas.count == len(distribution.local_devices()) == 1
    assert replicas.devices == ("cpu:0",)


# --- Two devices against one -----------------------------------------------------


def _start_worker(tmp_path_factory, name, *arguments):
    """Start the two-device worker now; return a function that waits for it."""
    if not DISTRIBUTES:
        pytest.skip("Keras has no distribution for this backend")
    out = tmp_path_factory.mktemp(name)
    command = [sys.executable, worker.__file__, str(out), *arguments]
    env = dict(os.environ, KERAS_BACKEND=BACKEND)
    log = open(out / "log.txt", "w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    result = {}

    def wait():
        if not result:
            code = process.wait(timeout=900)
            log.close()
            assert code == 0, (out / "log.txt").read_text()[-4000:]
            with open(out / "info.json") as f:
                result["info"] = json.load(f)
        return out, result["info"]

    def stop():
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()

    return wait, stop


@pytest.fixture(scope="module")
def two_devices(tmp_path_factory):
    """`METHODS` trained with `data_parallel()` on two devices."""
    wait, stop = _start_worker(
        tmp_path_factory, "data-parallel", "--methods", ",".join(METHODS)
    )
    yield wait
    stop()


@pytest.fixture(scope="module")
def model_parallel(tmp_path_factory):
    """Compacter++ trained with `t5_model_parallel(2)` (JAX)."""
    wait, stop = _start_worker(
        tmp_path_factory, "model-parallel", "--methods", "", "--model-parallel"
    )
    yield wait
    stop()


@pytest.fixture(scope="module")
def one_device():
    """The same training on this process's single device, per method."""
    cache = {}

    def train(method):
        if method not in cache:
            model = worker.inject_tiny(method)
            initial = worker.trained_arrays(model)
            worker.fit_tiny(model)
            trained = worker.trained_arrays(model)
            moved = max(_worst(trained[k], initial[k]) for k in trained)
            # The comparison means something: training moved the weights
            # far more than the two runs may differ.
            assert moved > 100 * TRAINED_ATOL, (method, moved)
            cache[method] = (trained, worker.probe_logits(model))
        return cache[method]

    return train


def _worst(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


@needs_distribution
@pytest.mark.parametrize("method", METHODS)
def test_two_devices_train_as_one(method, two_devices, one_device):
    """Same global batch, same seed: the same adapter and the same logits."""
    trained, logits = one_device(method)
    out, info = two_devices()
    assert info["devices"] == ["cpu:0", "cpu:1"]
    assert info["replicas"] == 2
    assert info[f"{method}.copies"] == [2]  # what trains is on both devices
    header, saved = read_adapter(out / f"{method}.npz")
    assert header["saved_with_backend"] == BACKEND
    assert set(saved) == set(trained)
    worst = max(_worst(saved[k], trained[k]) for k in trained)
    assert worst < TRAINED_ATOL, (method, worst)
    assert _worst(np.load(out / f"{method}.logits.npy"), logits) < LOGITS_ATOL
    if method == METHODS[0]:  # generate() in the scope, an odd batch padded
        assert len(info[f"{method}.generated"]) == 3


@needs_distribution
@pytest.mark.parametrize("method", METHODS)
def test_adapter_from_two_devices_loads_into_a_plain_model(method, two_devices):
    """Loaded here, on one device, into the plain base: the same logits."""
    out, _ = two_devices()
    model = worker.tiny_model(method)
    kc.load_adapter(model, out / f"{method}.npz")
    want = np.load(out / f"{method}.logits.npy")
    assert _worst(worker.probe_logits(model), want) < 1e-5


@pytest.mark.slow
@jax_only
def test_model_parallel_shards_the_base_and_trains_as_one_device(
    model_parallel, one_device
):
    """The base is split over the devices; the adapter is the one-device one."""
    out, info = model_parallel()
    name = "model-parallel-compacter++"
    shardings, trained_paths = info[f"{name}.shardings"], info[f"{name}.trained_paths"]
    for path in trained_paths:  # what trains is whole on every device
        assert all(a is None for a in shardings[path]), path
    sharded = {p for p, spec in shardings.items() if spec and "model" in spec}
    kernels = {p for p in shardings if p.endswith("_projector/kernel")}
    assert len(kernels) == 32 and kernels <= sharded
    assert "token_embedding/embeddings" in sharded
    trained, logits = one_device("compacter++")
    _, saved = read_adapter(out / f"{name}.npz")
    assert max(_worst(saved[k], trained[k]) for k in trained) < TRAINED_ATOL
    assert _worst(np.load(out / f"{name}.logits.npy"), logits) < LOGITS_ATOL


@pytest.mark.slow
@jax_only
def test_adapters_from_two_devices_load_on_the_other_backends(two_devices, tmp_path):
    """Saved by a distributed JAX run, loaded under TensorFlow and PyTorch."""
    out, _ = two_devices()
    names = list(METHODS)
    for backend in ("tensorflow", "torch"):
        result = tmp_path / backend
        result.mkdir()
        command = [sys.executable, worker.__file__, str(result), "--load", str(out)]
        command += ["--methods", ",".join(names)]
        env = dict(os.environ, KERAS_BACKEND=backend)
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-4000:]
        worst = json.loads((result / "load.json").read_text())
        assert set(worst) == set(names)
        assert max(worst.values()) < 1e-5, (backend, worst)


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@jax_only
def test_two_processes_train_as_one_device(tmp_path, one_device):
    """Two JAX processes (hosts), one device each, joined by
    `keras.distribution.initialize`: the one-device adapter."""
    coordinator = f"localhost:{_free_port()}"
    env = dict(os.environ, KERAS_BACKEND="jax")
    env.pop("XLA_FLAGS", None)
    logs = [open(tmp_path / f"log{i}.txt", "w") for i in range(2)]
    processes = [
        subprocess.Popen(
            [sys.executable, worker.__file__, str(tmp_path), "--methods", "bitfit"]
            + ["--coordinator", coordinator, "--processes", "2", "--process", str(i)],
            env=env,
            stdout=logs[i],
            stderr=subprocess.STDOUT,
        )
        for i in range(2)
    ]
    try:
        codes = [p.wait(timeout=600) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
        for log in logs:
            log.close()
    for i, code in enumerate(codes):
        assert code == 0, (tmp_path / f"log{i}.txt").read_text()[-4000:]
    trained, _ = one_device("bitfit")
    for i in range(2):
        info = json.loads((tmp_path / f"info.process{i}.json").read_text())
        assert info["num_processes"] == 2 and info["process_id"] == i
        assert info["replicas"] == len(info["devices"]) == 2
        _, saved = read_adapter(tmp_path / f"bitfit.process{i}.npz")
        assert max(_worst(saved[k], trained[k]) for k in trained) < TRAINED_ATOL
