"""The registry of methods: a name to its configuration class."""

import dataclasses

from keras_compacter.methods.adapters import (
    AdapterConfig,
    AdapterDropConfig,
    AdapterLowRankConfig,
    CompacterConfig,
    CompacterPlusPlusConfig,
    PfeifferAdapterConfig,
    PHMAdapterConfig,
)
from keras_compacter.methods.base import MethodConfig, Trained
from keras_compacter.methods.bitfit import BitFitConfig
from keras_compacter.methods.full import FullFineTuningConfig
from keras_compacter.methods.intrinsic_said import IntrinsicSAIDConfig
from keras_compacter.methods.lora import LoRAConfig
from keras_compacter.methods.prompt_tuning import PromptTuningConfig

REGISTRY = {
    cls.name: cls
    for cls in (
        CompacterConfig,
        CompacterPlusPlusConfig,
        PHMAdapterConfig,
        AdapterConfig,
        PfeifferAdapterConfig,
        AdapterDropConfig,
        AdapterLowRankConfig,
        PromptTuningConfig,
        IntrinsicSAIDConfig,
        BitFitConfig,
        FullFineTuningConfig,
        LoRAConfig,
    )
}


class UnknownMethodError(ValueError):
    pass


def get_method(method, **settings):
    """A method configuration from a name (plus settings) or a configuration."""
    if isinstance(method, MethodConfig):
        if settings:
            return dataclasses.replace(method, **settings)
        return method
    if isinstance(method, dict):
        config = dict(method)
        name = config.pop("method", None)
        return get_method(name, **config, **settings)
    if method not in REGISTRY:
        raise UnknownMethodError(
            f"Unknown method {method!r}. Valid methods: {', '.join(REGISTRY)}."
        )
    cls = REGISTRY[method]
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(settings) - valid)
    if unknown:
        raise TypeError(
            f"Unknown setting(s) {unknown} for method {method!r}; its settings "
            f"are: {', '.join(sorted(valid))}."
        )
    return cls(**settings)


__all__ = [
    "REGISTRY",
    "AdapterConfig",
    "AdapterDropConfig",
    "AdapterLowRankConfig",
    "BitFitConfig",
    "CompacterConfig",
    "CompacterPlusPlusConfig",
    "FullFineTuningConfig",
    "IntrinsicSAIDConfig",
    "LoRAConfig",
    "MethodConfig",
    "PHMAdapterConfig",
    "PfeifferAdapterConfig",
    "PromptTuningConfig",
    "Trained",
    "UnknownMethodError",
    "get_method",
]
