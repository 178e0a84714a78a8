"""The shared PHM rule: one set of `A_i` used by many `PHMDense` layers."""

import keras

from keras_compacter.layers.initializers import shared_rule_initializer


@keras.saving.register_keras_serializable(package="keras_compacter")
class SharedPHMRule(keras.layers.Layer):
    """Holds the `A_i` matrices, shape `(n, n, n)`, that PHM layers share.

    Compacter uses one such rule for every PHM layer of the model. Pass the
    same instance as `shared_rule=` to each `PHMDense`: the variable then
    appears once in `model.weights`, collects the gradient of every layer that
    uses it, and is saved once. The layer is never called; it only owns the
    weight.

    Args:
        phm_dim: int, `n`, the number of Kronecker summands.
        initializer: Initializer of the rule. Defaults to N(0, 1e-4), the
            paper's initialisation of a shared rule.

    Example:

    >>> rule = SharedPHMRule(4)
    >>> down = PHMDense(8, phm_dim=4, phm_rank=1, shared_rule=rule)
    >>> up = PHMDense(32, phm_dim=4, phm_rank=1, shared_rule=rule)
    >>> up(down(keras.ops.ones((2, 32)))).shape
    (2, 32)
    """

    def __init__(self, phm_dim, initializer=None, **kwargs):
        super().__init__(**kwargs)
        if int(phm_dim) < 1:
            raise ValueError(f"phm_dim must be a positive integer, got {phm_dim}.")
        self.phm_dim = int(phm_dim)
        self.initializer = keras.initializers.get(
            initializer or shared_rule_initializer()
        )
        n = self.phm_dim
        self.rule = self.add_weight(
            name="phm_rule", shape=(n, n, n), initializer=self.initializer
        )
        self.built = True

    def call(self, inputs=None):
        return self.rule

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "phm_dim": self.phm_dim,
                "initializer": keras.initializers.serialize(self.initializer),
            }
        )
        return config


def serialize_shared_rule(rule):
    """`rule`'s serialized config (or `None`), tagged as a shared object.

    Keras's `.keras` saving tags an object met twice with `shared_object_id`,
    so that loading rebuilds it once; but the tag it adds to the *first*
    occurrence is lost, because the serializer copies the dict a layer's
    `get_config()` returns. Tagging every occurrence keeps the rule shared
    after `keras.models.load_model`. Outside such a load the tag is ignored:
    each `from_config` builds its own rule.
    """
    if rule is None:
        return None
    config = keras.saving.serialize_keras_object(rule)
    config["shared_object_id"] = int(id(rule))
    return config


def config_with_shared_rule(config):
    """A copy of a layer config whose `shared_rule` entry is a rule again."""
    config = dict(config)
    if config.get("shared_rule") is not None:
        config["shared_rule"] = keras.saving.deserialize_keras_object(
            config["shared_rule"]
        )
    return config
