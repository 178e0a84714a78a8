"""The user-facing calls: `inject`, `methods`, `summary`."""

import contextlib
import math
from collections import OrderedDict

import keras
import numpy as np
from keras.src.backend.common.stateless_scope import get_stateless_scope

from keras_compacter.methods import REGISTRY, get_method
from keras_compacter.models.t5.wiring import T5Wiring, adaptations


class AlreadyInjectedError(ValueError):
    pass


def inject(model, method, **settings):
    """Put a parameter-efficient method into a KerasHub T5 model, in place.

    Freezes what the paper freezes; the model then trains with `fit` and
    generates with `generate()` using the method. Compile after injecting.

    Args:
        model: a built `keras_hub.models.T5Seq2SeqLM` or `T5Backbone`.
        method: a method name (see `methods()`) or a configuration object
            such as `keras_compacter.methods.CompacterConfig(...)`.
        **settings: overrides of the method's defaults, e.g.
            `reduction_factor=16`, `phm_dim=8`, `dropped_layers=3`.

    Returns:
        `model`.

    Example:

    ```python
    model = keras_hub.models.T5Seq2SeqLM.from_preset("t5_base_multi")
    keras_compacter.inject(model, "compacter++")
    keras_compacter.summary(model)
    ```
    """
    config = get_method(method, **settings)
    wiring = T5Wiring(model)
    if wiring.is_adapted():
        raise AlreadyInjectedError(
            f"This model already has {adaptations(model).method.name!r} injected; "
            "inject into a fresh copy of the base model (one method per model), "
            "or use keras_compacter.load_adapter to switch its weights."
        )
    config.validate(wiring)
    base = wiring.named_base_variables()
    count = sum(math.prod(v.shape) for _, v in base)
    state = wiring.begin()
    state.base_variables = base
    state.base_parameter_count = count
    for _, variable in base:
        variable.trainable = False
    state.trained = config.apply(wiring)
    state.method = config
    # Base weights the method trains in place (layer norms of the adapter
    # methods): their original values, so that `disabled()` can restore them.
    # (Not when the weights are deferred, as `keras-compacter params` builds
    # models: there are no values yet.)
    base_ids = {id(v) for _, v in base}
    state.base_originals = [
        (r.variable, np.array(keras.ops.convert_to_numpy(r.variable)))
        for r in state.trained
        if id(r.variable) in base_ids
        and config.name != "full"
        and get_stateless_scope() is None
    ]
    wiring.reset_compiled_functions()
    return model


def injected_method(model):
    """The method configuration injected into `model`, or None."""
    state = adaptations(model) if _is_t5(model) else None
    return None if state is None else state.method


def trained_variables(model):
    """`Trained` records (group, stable key, variable) of what the method trains."""
    state = adaptations(model)
    if state is None:
        raise ValueError("No method is injected into this model.")
    return list(state.trained)


def methods():
    """The methods, by name, with a one-line description each."""
    return OrderedDict((name, cls.description) for name, cls in REGISTRY.items())


def summary(model, print_fn=print):
    """Print what trains, grouped, and return the counts.

    Returns:
        A dict with `method`, `trainable` (parameters that train), `total`
        (all parameters after injection), `base` (the base model's own),
        `percent` (trainable / base x 100) and `groups` (trainable per group).
    """
    state = adaptations(model) if _is_t5(model) else None
    weights = model.weights
    total = sum(math.prod(v.shape) for v in _unique(weights))
    trainable = sum(math.prod(v.shape) for v in _unique(model.trainable_weights))
    if state is None:
        base, method, groups = total, None, {"base model": trainable}
    else:
        base, method = state.base_parameter_count, state.method.name
        groups = OrderedDict()
        for record in state.trained:
            groups[record.group] = groups.get(record.group, 0) + math.prod(
                record.variable.shape
            )
    result = {
        "method": method,
        "trainable": trainable,
        "total": total,
        "base": base,
        "percent": 100.0 * trainable / base,
        "groups": dict(groups),
    }
    if print_fn is not None:
        lines = [f"Method: {method or 'none'}"]
        for group, count in groups.items():
            lines.append(f"  {group:<14} {count:>14,}")
        lines.append(
            f"Trainable: {trainable:,} of {total:,} parameters "
            f"({result['percent']:.4f}% of the base model's {base:,})"
        )
        print_fn("\n".join(lines))
    return result


def _unique(variables):
    seen, out = set(), []
    for v in variables:
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


def _is_t5(model):
    from keras_hub.models import T5Backbone, T5Seq2SeqLM

    return isinstance(model, (T5Backbone, T5Seq2SeqLM))


@contextlib.contextmanager
def disabled(model):
    """Within this context the model computes exactly as its base model.

    The method's weights stay in place and the adapted computation returns on
    exit. Compiled functions are reset on entry and exit so that `predict`
    and `generate` follow the switch.

    Example:

    ```python
    with keras_compacter.disabled(model):
        base_logits = model(batch)
    ```
    """
    state = adaptations(model) if _is_t5(model) else None
    if state is None:
        raise ValueError("No method is injected into this model.")
    if state.method.name == "full":
        raise ValueError(
            "Full fine-tuning trains the base weights themselves, so there is no "
            "base model to switch to; keep a copy of the base model instead."
        )
    wiring = T5Wiring(model)
    if state.disabled:
        yield model
        return
    trained_values = [(v, keras.ops.copy(v.value)) for v, _ in state.base_originals]
    for variable, original in state.base_originals:
        variable.assign(original)
    state.set_enabled(False)
    wiring.reset_compiled_functions()
    try:
        yield model
    finally:
        state.set_enabled(True)
        for variable, value in trained_values:
            variable.assign(value)
        wiring.reset_compiled_functions()
