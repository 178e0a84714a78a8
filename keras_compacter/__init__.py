"""keras-compacter: parameter-efficient fine-tuning of KerasHub T5.

Compacter, Compacter++, PHM adapters, BitFit and the other methods of the
Compacter paper (Karimi Mahabadi, Henderson, Ruder, NeurIPS 2021), written
with `keras.ops` for TensorFlow, JAX and PyTorch.
"""

from keras_compacter import distribution, layers
from keras_compacter import methods as method_configs
from keras_compacter.api import (
    AlreadyInjectedError,
    disabled,
    inject,
    injected_method,
    methods,
    summary,
    trained_variables,
)
from keras_compacter.methods import UnknownMethodError
from keras_compacter.models.t5.architectures import ARCHITECTURES, t5_backbone
from keras_compacter.models.t5.wiring import NeedsTaskError, UnsupportedModelError
from keras_compacter.saving import (
    AdapterFileError,
    load_adapter,
    read_adapter,
    save_adapter,
)

__version__ = "0.1.0"

__all__ = [
    "ARCHITECTURES",
    "AdapterFileError",
    "AlreadyInjectedError",
    "disabled",
    "distribution",
    "load_adapter",
    "read_adapter",
    "save_adapter",
    "NeedsTaskError",
    "UnknownMethodError",
    "UnsupportedModelError",
    "inject",
    "injected_method",
    "layers",
    "method_configs",
    "methods",
    "summary",
    "t5_backbone",
    "trained_variables",
]
