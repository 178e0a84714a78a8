"""Training on many devices with Keras's own distribution machinery.

Nothing here re-implements data parallelism: on JAX it is Keras's
`keras.distribution.DataParallel` (and `keras.distribution.ModelParallel`
with a T5 `LayoutMap`), on TensorFlow `tf.distribute.MirroredStrategy`.
Keras 3 has no distribution support for PyTorch (`keras.distribution` has no
PyTorch implementation: `keras.distribution.list_devices()` fails there with
`AttributeError: 'NoneType' object has no attribute 'list_devices'`), so on
that backend these functions raise `DistributionUnsupportedError`.

This is the only module of the library that imports `jax` or `tensorflow`
for distribution; it imports them lazily, inside the functions, so that
importing it costs nothing and works on every backend.

Build, inject, compile and fit the model inside the scope, so that every
variable (the base model's and the method's) is created distributed:

```python
import keras_hub
import keras_compacter as kc
from keras_compacter.distribution import data_parallel, integer_masks

with data_parallel() as replicas:  # all local devices
    model = keras_hub.models.T5Seq2SeqLM.from_preset("t5_base_multi")
    kc.inject(model, "compacter++")
    integer_masks(model)  # needed on TensorFlow for text inputs; else no-op
    model.compile(...)
    model.fit(data, batch_size=8 * replicas.count)  # the global batch
kc.save_adapter(model, "adapter.npz")  # loads anywhere, on one device too
```

Every batch must split evenly over the devices (on JAX an uneven one
raises; on TensorFlow its gradient is not the one-device one):
`Replicas.even_examples` says how many examples to keep, and
`Replicas.generate` pads a `generate()` batch inside the scope.
"""

import contextlib
import dataclasses

import keras
import numpy as np


class DistributionUnsupportedError(RuntimeError):
    """Keras offers no distribution for the current backend."""


TORCH_MESSAGE = (
    "Training on many devices is not available with the PyTorch backend: "
    "Keras {version} has no distribution support for PyTorch "
    "(`keras.distribution` has no PyTorch implementation, and Keras's "
    "PyTorch trainer wraps neither torch.distributed nor "
    "DistributedDataParallel). Use KERAS_BACKEND=jax "
    "(keras.distribution.DataParallel) or KERAS_BACKEND=tensorflow "
    "(tf.distribute.MirroredStrategy); the adapter files trained there load "
    "into PyTorch models."
)


@dataclasses.dataclass(frozen=True)
class Replicas:
    """What `data_parallel()` distributes over.

    Attributes:
        count: the number of model replicas; a global batch is split into
            this many equal parts, so make the batch size a multiple of it.
        devices: the devices, as Keras names them (`"gpu:0"`, `"cpu:1"`).
        backend_object: the `keras.distribution.DataParallel` (JAX) or the
            `tf.distribute.MirroredStrategy` (TensorFlow) in use.
        num_processes: processes (hosts) taking part; more than 1 only on
            JAX after `keras.distribution.initialize`.
        process_id: this process's index among them.
    """

    count: int
    devices: tuple
    backend_object: object
    num_processes: int = 1
    process_id: int = 0

    def local_part(self, examples):
        """This process's share of a data set: every `num_processes`-th item.

        With several processes each one passes only its share to `fit`,
        with `local_batch_size(batch_size)`; step `i` then trains on the
        same global batch as one process would (items `i * batch_size` to
        `(i + 1) * batch_size - 1`, unshuffled). Trim the data with
        `even_examples` first, so that every process gets as many items and
        runs as many steps. With one process this returns `examples`
        unchanged. A dict (of lists or arrays) is split per value.
        """
        if self.num_processes == 1:
            return examples
        if isinstance(examples, dict):
            return {k: self.local_part(v) for k, v in examples.items()}
        return examples[self.process_id :: self.num_processes]

    def local_batch_size(self, batch_size):
        """The batch size each process passes to `fit` for a global one."""
        self.check_batch_size(batch_size)
        return batch_size // self.num_processes

    def check_batch_size(self, batch_size):
        """Raise a `ValueError` unless `batch_size` splits evenly."""
        if batch_size % self.count:
            raise ValueError(
                f"The batch size {batch_size} does not split evenly over "
                f"{self.count} devices; use a multiple of {self.count}."
            )
        return batch_size

    def even_examples(self, num_examples, batch_size):
        """How many of `num_examples` to train on so every batch splits evenly.

        `batch_size` must be a multiple of `count`; the last, partial batch
        is shortened to a multiple of `count` (at most `count - 1` examples
        are left out). On JAX a batch that does not split evenly raises
        `IndivisibleError`; on TensorFlow it runs, but its gradient is not
        the one-device gradient.
        """
        self.check_batch_size(batch_size)
        return num_examples - (num_examples % batch_size) % self.count

    def generate(self, model, inputs, **kwargs):
        """`model.generate(inputs, **kwargs)` on a batch of any size.

        Inside `data_parallel()` on JAX, `generate()` splits its batch over
        the devices and needs a multiple of `count` inputs; this pads the
        batch by repeating its last input and drops the extra outputs.
        `inputs` is a list of strings, or a dict of arrays (or an array) with
        the batch first. (Tested with one process; with several, every
        process would have to call it, and that is untested.)
        """
        if isinstance(inputs, str):
            return model.generate(inputs, **kwargs)
        size = len(next(iter(inputs.values())) if isinstance(inputs, dict) else inputs)
        extra = (-size) % self.count
        if not extra:
            return model.generate(inputs, **kwargs)
        outputs = model.generate(_pad(inputs, extra), **kwargs)
        return _unpad(outputs, size)


def _pad(inputs, extra):
    if isinstance(inputs, dict):
        return {k: _pad(v, extra) for k, v in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return list(inputs) + [inputs[-1]] * extra
    array = np.asarray(inputs)
    return np.concatenate([array, np.repeat(array[-1:], extra, axis=0)])


def _unpad(outputs, size):
    if isinstance(outputs, dict):
        return {k: _unpad(v, size) for k, v in outputs.items()}
    return outputs[:size]


def _backend():
    return keras.config.backend()


def _unsupported(backend):
    if backend == "torch":
        return DistributionUnsupportedError(
            TORCH_MESSAGE.format(version=keras.__version__)
        )
    return DistributionUnsupportedError(
        f"Training on many devices is not available with the {backend!r} "
        "backend; use KERAS_BACKEND=jax or KERAS_BACKEND=tensorflow."
    )


def local_devices():
    """The devices `data_parallel()` uses by default, as Keras names them.

    The accelerators (GPUs, or TPUs on JAX) when there are any, the CPU
    devices otherwise. On JAX in a multi-host set-up these are the devices
    of all hosts, as `keras.distribution.list_devices()` returns them.
    """
    backend = _backend()
    if backend == "jax":
        return list(keras.distribution.list_devices())
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        devices = gpus or tf.config.list_logical_devices("CPU")
        return [_keras_device_name(d.name) for d in devices]
    raise _unsupported(backend)


def _keras_device_name(name):
    """`/job:localhost/replica:0/task:0/device:CPU:1` -> `cpu:1`."""
    kind, index = name.split("device:")[-1].split(":")
    return f"{kind.lower()}:{index}"


def _tensorflow_device_name(name):
    """`cpu:1` -> `/device:CPU:1` (TensorFlow names pass unchanged)."""
    if name.startswith("/"):
        return name
    kind, index = name.split(":")
    return f"/device:{kind.upper()}:{index}"


# One `MirroredStrategy` per set of devices, for the whole process. A second
# strategy over the same devices restarts the collective keys, and its
# all-reduces collide with the first one's in TensorFlow's collective
# executor ("Collective ops is aborted by: Shape mismatch in the collective
# instance 100", tensorflow/tensorflow#62790). Reusing the strategy also lets
# a model created in one `data_parallel()` block train in the next.
_STRATEGIES = {}


def _mirrored_strategy(devices):
    import tensorflow as tf

    if devices not in _STRATEGIES:
        _STRATEGIES[devices] = tf.distribute.MirroredStrategy(list(devices))
    return _STRATEGIES[devices]


@contextlib.contextmanager
def data_parallel(devices=None, auto_shard_dataset=False):
    """Train with one model replica per device, the batch split among them.

    Create the model, inject the method, compile and fit inside this
    context: variables are created replicated on every device, each step
    splits the global batch evenly among the devices and averages the
    gradients, so the trained weights match a one-device run on the same
    global batch (up to float rounding).

    - JAX: sets `keras.distribution.DataParallel(devices=devices)` as the
      global distribution and restores the previous one on exit. After
      `keras.distribution.initialize` it spans the devices of every
      process (host).
    - TensorFlow: enters `tf.distribute.MirroredStrategy(devices).scope()`
      (one host). One strategy per set of devices is kept for the process
      and reused.
    - PyTorch: raises `DistributionUnsupportedError` (Keras has no
      distribution for PyTorch).

    Args:
        devices: optional list of devices, as Keras names them (`"gpu:0"`,
            `"cpu:1"`; on TensorFlow its own names such as `"/gpu:0"` work
            too). Defaults to `local_devices()`: every GPU (or TPU on JAX),
            else every CPU device.
        auto_shard_dataset: JAX with several processes only: let Keras
            split a `tf.data` input among the processes. Off by default:
            Keras cannot size the data sets KerasHub builds from text
            (`ValueError: The batch size of the input dataset is unknown`),
            so each process passes `replicas.local_part(data)` with
            `replicas.local_batch_size(batch_size)` instead.

    Yields:
        A `Replicas` record: `count`, the number of replicas (make batch
        sizes a multiple of it), `devices`, `backend_object`,
        `num_processes` and `process_id`.
    """
    backend = _backend()
    if backend == "jax":
        import jax

        previous = keras.distribution.distribution()
        distribution = keras.distribution.DataParallel(
            devices=list(devices) if devices else None,
            auto_shard_dataset=auto_shard_dataset,
        )
        names = tuple(str(d) for d in distribution.device_mesh.devices.flatten())
        replicas = Replicas(
            distribution.num_model_replicas,
            names,
            distribution,
            num_processes=jax.process_count(),
            process_id=jax.process_index(),
        )
        keras.distribution.set_distribution(distribution)
        try:
            yield replicas
        finally:
            keras.distribution.set_distribution(previous)
    elif backend == "tensorflow":
        names = tuple(devices) if devices else tuple(local_devices())
        strategy = _mirrored_strategy(tuple(map(_tensorflow_device_name, names)))
        with strategy.scope():
            yield Replicas(strategy.num_replicas_in_sync, names, strategy)
    else:
        raise _unsupported(backend)


def integer_masks(model):
    """Make `model`'s preprocessing emit int32 tensors instead of booleans.

    Needed on TensorFlow under `data_parallel()` when `fit` gets raw text:
    Keras (3.15) builds a model created in a `MirroredStrategy` scope by
    averaging the first batch across the replicas
    (`strategy.reduce("MEAN", ...)` in `_maybe_symbolic_build`), which
    fails on boolean tensors with `InvalidArgumentError: Value for attr 'T'
    of bool is not in the list of allowed values ... {{node AddN}}`, and
    KerasHub's T5 preprocessor emits boolean padding masks and sample
    weights. T5 reads its padding masks as int32 anyway, so nothing that is
    computed changes. On the other backends, and for a model without a
    preprocessor, this does nothing.

    Call it once on the created model (it changes this instance's
    `preprocess_samples` only, not its class or its saved form).

    Returns:
        `model`.
    """
    if _backend() != "tensorflow" or getattr(model, "preprocessor", None) is None:
        return model
    if model.__dict__.get("_compacter_integer_masks"):
        return model
    import tensorflow as tf

    original = model.preprocess_samples

    def to_int(value):
        if isinstance(value, tf.Tensor) and value.dtype == tf.bool:
            return tf.cast(value, "int32")
        if isinstance(value, np.ndarray) and value.dtype == bool:
            return value.astype("int32")
        return value

    def preprocess_samples(x, y=None, sample_weight=None):
        return tf.nest.map_structure(to_int, original(x, y, sample_weight))

    # Plain instance attributes: Keras's tracking has nothing to do with them.
    model.__dict__["preprocess_samples"] = preprocess_samples
    model.__dict__["_compacter_integer_masks"] = True
    return model


def t5_layout_map(device_mesh, model_axis="model"):
    """A `keras.distribution.LayoutMap` that shards a KerasHub T5's big weights.

    Megatron-style: the token embedding is split over the vocabulary, the
    query/key/value and feed-forward input (and gate) kernels over their
    output units, the attention and feed-forward output kernels over their
    input units. Everything else (layer norms, relative position biases,
    and every variable a method adds: adapters, PHM rules, biases, prompts,
    LoRA factors) matches no key and is replicated, so the small trained
    weights live whole on every device.

    The layout is chosen by variable path when a variable is created, so
    the model must be created inside the distribution's scope. Each sharded
    dimension must be divisible by the size of `model_axis`.

    Args:
        device_mesh: a `keras.distribution.DeviceMesh` with an axis named
            `model_axis`.
        model_axis: the mesh axis the weights are split over.

    Returns:
        A `keras.distribution.LayoutMap`.
    """
    layout_map = keras.distribution.LayoutMap(device_mesh)
    m = model_axis
    layout_map[r"(.*/)?token_embedding/embeddings"] = (m, None)
    layout_map[r"(.*/)?token_embedding/reverse_embeddings"] = (None, m)
    layout_map[r".*(query|key|value|input|gate)_projector/kernel"] = (None, m)
    layout_map[r".*output_projector/kernel"] = (m, None)
    return layout_map


def t5_model_parallel(model_parallel_size=None, devices=None):
    """A `keras.distribution.ModelParallel` for KerasHub T5 (JAX only).

    The devices form a `(batch, model)` mesh: the frozen base weights are
    sharded over `model` (see `t5_layout_map`), the method's trained
    weights are replicated, and each batch is split over `batch`.

    Use it as Keras's distributions are used, creating the model inside:

    ```python
    distribution = t5_model_parallel(model_parallel_size=2)
    with distribution.scope():
        model = keras_hub.models.T5Seq2SeqLM.from_preset("t5_base_multi")
        kc.inject(model, "compacter++")
        model.compile(...)
        model.fit(...)
    ```

    Args:
        model_parallel_size: devices each weight is split over. Defaults to
            all the devices (no data parallelism).
        devices: optional list of devices as Keras names them; defaults to
            `keras.distribution.list_devices()`.

    Returns:
        A `keras.distribution.ModelParallel`.
    """
    backend = _backend()
    if backend != "jax":
        if backend == "torch":
            raise _unsupported(backend)
        raise DistributionUnsupportedError(
            "t5_model_parallel() needs the JAX backend: Keras implements "
            "keras.distribution.ModelParallel for JAX only. On "
            f"{backend!r}, use data_parallel()."
        )
    devices = list(devices) if devices else keras.distribution.list_devices()
    size = model_parallel_size or len(devices)
    if size < 1 or len(devices) % size:
        raise ValueError(
            f"model_parallel_size={size} must divide the number of devices "
            f"({len(devices)})."
        )
    mesh = keras.distribution.DeviceMesh(
        shape=(len(devices) // size, size),
        axis_names=("batch", "model"),
        devices=devices,
    )
    return keras.distribution.ModelParallel(
        layout_map=t5_layout_map(mesh), batch_dim_name="batch"
    )
