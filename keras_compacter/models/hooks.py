"""Changing what a built layer computes, in place, without knowing the method.

`add_hook` makes a layer pass its input through a `pre` hook, or its output
(the first output, for layers returning a tuple) through a `post` hook. The
layer's class is swapped for a subclass whose `call` applies the hooks, so
every caller (a functional graph, KerasHub's cached decoding) sees them, and
the hook layers are tracked as the layer's own sub-layers, so their weights
appear in `model.weights` and are saved with it.
"""

import keras

_HOOKED_CLASSES = {}


def attach_sublayer(parent, name, sublayer):
    """Track `sublayer` as `parent.<name>` after `parent` was built.

    Keras locks a built layer's tracker; like `Dense.enable_lora`, unlock it
    for the one new attribute and lock it again.
    """
    tracker = getattr(parent, "_tracker", None)
    locked = tracker is not None and tracker.locked
    if locked:
        tracker.unlock()
    try:
        setattr(parent, name, sublayer)
    finally:
        if locked:
            tracker.lock()


def _hooked_class(cls):
    if cls.__dict__.get("_is_hooked_class"):
        return cls
    if cls not in _HOOKED_CLASSES:

        def call(self, *args, **kwargs):
            if self.__dict__.get("_compacter_disabled"):
                return super(hooked, self).call(*args, **kwargs)
            if self.compacter_pre_hooks:
                first = args[0]
                for hook in self.compacter_pre_hooks:
                    first = hook(first)
                args = (first, *args[1:])
            outputs = super(hooked, self).call(*args, **kwargs)
            if not self.compacter_post_hooks:
                return outputs
            is_tuple = isinstance(outputs, tuple)
            first = outputs[0] if is_tuple else outputs
            for hook in self.compacter_post_hooks:
                first = hook(first)
            return (first, *outputs[1:]) if is_tuple else first

        hooked = type(
            f"Hooked{cls.__name__}",
            (cls,),
            {"call": call, "_is_hooked_class": True, "__module__": cls.__module__},
        )
        _HOOKED_CLASSES[cls] = hooked
    return _HOOKED_CLASSES[cls]


def set_hooks_enabled(layer, enabled):
    """Switch `layer`'s hooks off (it computes as before) or on again."""
    layer.__dict__["_compacter_disabled"] = not enabled


def add_hook(layer, hook, where="post"):
    """Apply `hook` (a layer or callable) to `layer`'s input or output.

    Args:
        layer: a built Keras layer.
        hook: called on the input (`where="pre"`) or on the output
            (`where="post"`; the first element when the layer returns a
            tuple).
        where: `"pre"` or `"post"`.
    """
    if where not in ("pre", "post"):
        raise ValueError(f"where must be 'pre' or 'post', got {where!r}.")
    if not getattr(layer.__class__, "_is_hooked_class", False):
        layer.__class__ = _hooked_class(layer.__class__)
        attach_sublayer(layer, "compacter_pre_hooks", [])
        attach_sublayer(layer, "compacter_post_hooks", [])
    hooks = layer.compacter_pre_hooks if where == "pre" else layer.compacter_post_hooks
    tracker = layer._tracker
    locked = tracker.locked
    if locked:
        tracker.unlock()
    try:
        hooks.append(hook)
    finally:
        if locked:
            tracker.lock()
    return layer


def enable_dense_bias(dense, initializer="zeros"):
    """Give a built bias-free `keras.layers.Dense` a trainable bias, in place.

    Like `Dense.enable_lora`: refuse when it does not apply, unlock the
    tracker, add the weight, lock again. `Dense.call` adds `self.bias` before
    its activation, so the bias sits where a bias belongs, and `get_config`
    reports `use_bias=True`.
    """
    if not isinstance(dense, keras.layers.Dense):
        raise TypeError(f"Expected a keras.layers.Dense, got {type(dense).__name__}.")
    if not dense.built:
        raise ValueError(f"Build {dense.name} before adding a bias.")
    if dense.bias is not None:
        raise ValueError(f"{dense.name} already has a bias.")
    dense._tracker.unlock()
    try:
        dense.bias = dense.add_weight(
            name="bias", shape=(dense.units,), initializer=initializer
        )
        dense.use_bias = True
    finally:
        dense._tracker.lock()
    return dense.bias
