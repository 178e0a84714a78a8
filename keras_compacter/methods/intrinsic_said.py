"""`intrinsic-said`: every base weight moves along a fixed random subspace.

`theta_i = theta0_i + lambda_i * F_i(z)` (Aghajanyan et al. 2021). `z` and
the per-tensor scales `lambda` train; `F_i` are fixed Fastfood transforms
regenerated from a seed. The substitution is stateless: inside every forward
pass each base variable reads as `theta_i` (a `keras.StatelessScope`), so
gradients reach `z` and `lambda` on every backend, and `theta0` is never
written.
"""

import contextlib
import dataclasses

import keras
from keras import ops

# `get_stateless_scope` is not public; a substitution scope nested inside
# Keras's own (JAX's stateless training step) must see the outer mapping.
from keras.src.backend.common import global_state
from keras.src.backend.common.stateless_scope import get_stateless_scope

from keras_compacter.layers.fastfood import FastfoodProjection, padded_size
from keras_compacter.methods.base import MethodConfig, Trained


class SubstitutionScope(keras.StatelessScope):
    """A `StatelessScope` that substitutes some variables and passes the rest.

    Variables it does not substitute read as in the enclosing scope, and the
    updates made inside it (a dropout seed, say) are handed to the enclosing
    scope on exit, or assigned when there is none, so the substitution never
    swallows a state change.
    """

    def __init__(self, substitutions):
        super().__init__()
        self.parent = get_stateless_scope()
        if self.parent is not None:
            self.state_mapping.update(self.parent.state_mapping)
        self.substituted = set()
        for variable, value in substitutions:
            self.state_mapping[id(variable)] = value
            self.substituted.add(id(variable))

    def add_update(self, update):
        variable, value = update
        if id(variable) in self.substituted:
            raise ValueError(
                f"{variable.path} is substituted by Intrinsic-SAID and cannot be "
                "assigned inside a forward pass."
            )
        # Hand the update on at once, in the caller's trace context (a loop
        # body, say), and keep it visible to reads inside this scope.
        super().add_update(update)
        if self.parent is not None:
            self.parent.add_update(update)
        else:
            global_state.set_global_attribute("stateless_scope", None)
            try:
                variable.assign(value)
            finally:
                global_state.set_global_attribute("stateless_scope", self)
            del self.state_mapping[id(variable)]

    def add_loss(self, loss):
        if self.parent is not None:
            self.parent.add_loss(loss)
        super().add_loss(loss)


@keras.saving.register_keras_serializable(package="keras_compacter")
class IntrinsicSubspace(keras.layers.Layer):
    """Holds `z` and `lambda`, and the Fastfood maps of every base tensor.

    Args:
        shapes: the shapes of the base tensors, in a fixed order.
        intrinsic_dim: `d`, the size of `z` and `lambda` together.
        seed: seed of the Fastfood transforms (tensor `i` uses `seed + i`).
    """

    def __init__(self, shapes, intrinsic_dim=20000, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.shapes = [tuple(int(d) for d in s) for s in shapes]
        self.intrinsic_dim = int(intrinsic_dim)
        self.seed = int(seed)
        count = len(self.shapes)
        self.z = self.add_weight(
            name="intrinsic_z",
            shape=(self.intrinsic_dim - count,),
            initializer="zeros",
        )
        self.scales = self.add_weight(
            name="intrinsic_lambda", shape=(count,), initializer="ones"
        )
        size = self.intrinsic_dim - count
        # Made here, outside any trace, so that their constant tensors are
        # made once and captured by reference by compiled steps (made inside
        # a trace, they would be copied into every compiled program).
        self._projections = [
            FastfoodProjection(
                shape,
                seed=self.seed + i,
                input_size=min(size, padded_size(shape)),
                name=f"fastfood_{i}",
            )
            for i, shape in enumerate(self.shapes)
        ]
        self.built = True

    @property
    def projections(self):
        return self._projections

    def offsets(self):
        """`lambda_i * F_i(z)` for every base tensor.

        A tensor smaller than `z` sees only the first `LL` values of `z`
        (`LL`, its Fastfood size): the reference code pads `z` to `LL` with
        `F.pad`, which crops when the pad is negative. The product with
        `lambda_i` is part of the projection's op, whose gradient needs
        neither `F_i(z)` nor any intermediate of the transform.
        """
        z = ops.convert_to_tensor(self.z)
        scales = ops.convert_to_tensor(self.scales)
        size = self.intrinsic_dim - len(self.shapes)
        return [
            proj(
                z if proj.padded_size >= size else z[: proj.padded_size],
                scale=scales[i],
            )
            for i, proj in enumerate(self.projections)
        ]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "shapes": [list(s) for s in self.shapes],
                "intrinsic_dim": self.intrinsic_dim,
                "seed": self.seed,
            }
        )
        return config


@dataclasses.dataclass
class IntrinsicSAIDConfig(MethodConfig):
    """Structure-aware intrinsic dimension (Aghajanyan et al. 2021).

    Args:
        intrinsic_dim: `d`, the trained values (`z` and one `lambda` per base
            tensor) together (20,000).
        seed: seed of the Fastfood transforms.
        learning_rate: the paper's, 3e-2.
    """

    intrinsic_dim: int = 20000
    seed: int = 0
    learning_rate: float = 3e-2

    name = "intrinsic-said"
    description = "Train a d=20,000 vector mapped to all weights by Fastfood (SAID)."

    def validate(self, wiring):
        wiring.require_task("Intrinsic-SAID (it also reparameterises the LM head)")
        count = len(wiring.named_base_variables())
        if self.intrinsic_dim <= count:
            raise ValueError(
                f"intrinsic_dim={self.intrinsic_dim} must exceed the number of "
                f"base weight tensors ({count}), which each take one lambda."
            )

    def apply(self, wiring):
        variables = [v for _, v in wiring.state.base_variables]
        subspace = IntrinsicSubspace(
            [tuple(v.shape) for v in variables],
            intrinsic_dim=self.intrinsic_dim,
            seed=self.seed,
            name="intrinsic_subspace",
        )
        active = []

        @contextlib.contextmanager
        def scope():
            if active:  # Already inside a forward pass of this model.
                yield
                return
            offsets = subspace.offsets()
            substitutions = [
                (v, ops.add(v.value, ops.cast(offset, v.dtype)))
                for v, offset in zip(variables, offsets)
            ]
            active.append(True)
            try:
                with SubstitutionScope(substitutions):
                    yield
            finally:
                active.pop()

        wiring.add_forward_scope(subspace, scope)
        return [
            Trained("intrinsic", "intrinsic/z", subspace.z),
            Trained("intrinsic", "intrinsic/lambda", subspace.scales),
        ]
