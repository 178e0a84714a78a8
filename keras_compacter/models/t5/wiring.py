"""Where T5's parts are: the only module that knows KerasHub T5's attributes.

Methods ask this module for sites by role ("the self-attention sublayer of
encoder block 3", "every attention projection", "the layer norms") and hand
it layers to put there; it knows nothing of any method.

Adapted models are the same objects with their classes swapped for the
subclasses below, whose entry points (`call`, KerasHub's cached decoding)
apply what was placed: a prefix on the encoder input, hooks on the logits,
and scopes around every forward pass.
"""

import contextlib
from dataclasses import dataclass

import keras
from keras import ops
from keras_hub.models import T5Backbone, T5Seq2SeqLM

from keras_compacter.models.hooks import add_hook, attach_sublayer, set_hooks_enabled

SITES = ("self_attention", "cross_attention", "feed_forward")
STACKS = ("encoder", "decoder")


class UnsupportedModelError(TypeError):
    pass


class NeedsTaskError(ValueError):
    pass


@dataclass
class Block:
    """One transformer layer of a stack."""

    stack: str
    index: int
    layer: keras.layers.Layer

    @property
    def key(self):
        return f"{self.stack}/{self.index}"


class Adaptations:
    """What was placed at the model-level entry points (plain Python state)."""

    def __init__(self):
        self.encoder_prefix = None
        self.forward_scopes = []
        self.method = None
        self.base_parameter_count = 0
        self.base_variables = []
        self.trained = []
        self.disabled = False
        self.toggles = []  # (switch_off, switch_on) for what lives in layers

    def set_enabled(self, enabled):
        """Compute as the base model (False) or as adapted (True)."""
        self.disabled = not enabled
        for switch_off, switch_on in self.toggles:
            (switch_on if enabled else switch_off)()

    @contextlib.contextmanager
    def forward_scope(self):
        with contextlib.ExitStack() as stack:
            if not self.disabled:
                for make_scope in self.forward_scopes:
                    stack.enter_context(make_scope())
            yield

    def extend_mask(self, padding_mask):
        if self.encoder_prefix is None or self.disabled:
            return padding_mask
        return self.encoder_prefix.extend_mask(padding_mask)

    def extra_encoder_length(self):
        if self.encoder_prefix is None or self.disabled:
            return 0
        return self.encoder_prefix.length


def adaptations(model):
    """The `Adaptations` of an adapted backbone or task (None if plain)."""
    backbone = model.backbone if isinstance(model, T5Seq2SeqLM) else model
    return backbone.__dict__.get("_compacter_adaptations")


def _config_with_method(model, config):
    state = adaptations(model)
    if state is not None and state.method is not None:
        config["compacter_method"] = state.method.get_config()
    return config


def _rebuild(base_cls, config):
    """A base model from `config`, with the recorded method injected again.

    Injection is deterministic, so the rebuilt model has the same structure
    and Keras's loader then fills in every weight, the method's included.
    """
    from keras_compacter.api import inject

    config = dict(config)
    method = config.pop("compacter_method", None)
    model = base_cls.from_config(config)
    if method is not None:
        inject(model, method)
    return model


@keras.saving.register_keras_serializable(package="keras_compacter")
class AdaptedT5Backbone(T5Backbone):
    """A `T5Backbone` with methods placed in it (see `T5Wiring`)."""

    def get_config(self):
        # Only a backbone adapted on its own records the method; inside an
        # adapted task, the task does.
        config = super().get_config()
        if not self.__dict__.get("_compacter_inside_task"):
            _config_with_method(self, config)
        return config

    @classmethod
    def from_config(cls, config):
        return _rebuild(T5Backbone, config)

    def call(self, inputs, training=None, mask=None, **kwargs):
        state = adaptations(self)
        with state.forward_scope():
            if state.extra_encoder_length():
                inputs = dict(inputs)
                inputs["encoder_padding_mask"] = state.extend_mask(
                    inputs["encoder_padding_mask"]
                )
            return super().call(inputs, training=training, mask=mask, **kwargs)


@keras.saving.register_keras_serializable(package="keras_compacter")
class AdaptedT5Seq2SeqLM(T5Seq2SeqLM):
    """A `T5Seq2SeqLM` with methods placed in it (see `T5Wiring`)."""

    def get_config(self):
        return _config_with_method(self, super().get_config())

    @classmethod
    def from_config(cls, config):
        return _rebuild(T5Seq2SeqLM, config)

    def call(self, inputs, training=None, mask=None):
        with adaptations(self).forward_scope():
            outputs = self.backbone(inputs, training=training)
            return self._logits(outputs["decoder_sequence_output"])

    def _logits(self, hidden_states):
        logits = super()._logits(hidden_states)
        if not adaptations(self).disabled:
            for hook in self.compacter_logits_hooks:
                logits = hook(logits)
        return logits

    def call_encoder(self, token_ids, padding_mask):
        state = adaptations(self)
        with state.forward_scope():
            return super().call_encoder(token_ids, state.extend_mask(padding_mask))

    def call_decoder_with_cache(
        self,
        encoder_hidden_states,
        encoder_padding_mask,
        *args,
        **kwargs,
    ):
        state = adaptations(self)
        with state.forward_scope():
            return super().call_decoder_with_cache(
                encoder_hidden_states,
                state.extend_mask(encoder_padding_mask),
                *args,
                **kwargs,
            )

    def _initialize_cache(self, encoder_token_ids, decoder_token_ids):
        self_cache, cross_cache = super()._initialize_cache(
            encoder_token_ids, decoder_token_ids
        )
        extra = adaptations(self).extra_encoder_length()
        if extra:
            shape = list(ops.shape(cross_cache))
            shape[3] = extra
            cross_cache = ops.concatenate(
                [ops.zeros(shape, dtype=cross_cache.dtype), cross_cache], axis=3
            )
        return self_cache, cross_cache

    def generate_step(self, inputs, stop_token_ids=None):
        # One scope for the whole decoding loop: what a scope computes (e.g.
        # Intrinsic-SAID's weights) is computed once per batch, not per token.
        with adaptations(self).forward_scope():
            return super().generate_step(inputs, stop_token_ids=stop_token_ids)


class T5Wiring:
    """The sites of a KerasHub T5 model where methods place their layers.

    Args:
        model: a built `keras_hub.models.T5Seq2SeqLM` or `T5Backbone`.
    """

    def __init__(self, model):
        if isinstance(model, T5Seq2SeqLM):
            self.task, self.backbone = model, model.backbone
        elif isinstance(model, T5Backbone):
            self.task, self.backbone = None, model
        else:
            raise UnsupportedModelError(
                "keras_compacter supports KerasHub T5 models only: pass a "
                "keras_hub.models.T5Seq2SeqLM (or its T5Backbone), got "
                f"{type(model).__module__}.{type(model).__name__}."
            )
        if not self.backbone.built:
            raise ValueError("Build the model (or load its weights) before injecting.")
        self.model = model

    # --- Sizes -------------------------------------------------------------
    @property
    def hidden_dim(self):
        return self.backbone.hidden_dim

    @property
    def num_layers(self):
        return self.backbone.num_layers

    @property
    def vocabulary_size(self):
        return self.backbone.vocabulary_size

    def architecture(self):
        """What must match for trained weights to fit this model."""
        config = self.backbone.get_config()
        keys = (
            "vocabulary_size",
            "num_layers",
            "num_heads",
            "hidden_dim",
            "intermediate_dim",
            "key_value_dim",
            "activation",
            "use_gated_activation",
            "tie_embedding_weights",
        )
        return {k: config[k] for k in keys}

    # --- Blocks and their sublayers ---------------------------------------
    def blocks(self, stack=None):
        stacks = STACKS if stack is None else (stack,)
        out = []
        for name in stacks:
            layers = getattr(self.backbone, f"{name}_transformer_layers")
            out.extend(Block(name, i, layer) for i, layer in enumerate(layers))
        return out

    def sites_of(self, block):
        return SITES if block.stack == "decoder" else ("self_attention", "feed_forward")

    def _site_layer(self, block, site):
        if site not in self.sites_of(block):
            raise ValueError(
                f"{block.stack} blocks have no {site!r} sublayer; valid: "
                f"{', '.join(self.sites_of(block))}."
            )
        if site == "feed_forward":
            # The feed-forward's output is `output_projector`'s, before dropout.
            return block.layer.output_projector
        return getattr(block.layer, site)

    def add_after_sublayer(self, block, site, layer):
        """Apply `layer` to a sublayer's output, before dropout and residual."""
        self.add_output_hook(self._site_layer(block, site), layer)

    def add_output_hook(self, target, layer):
        """Apply `layer` to the output of `target`, a layer of this model."""
        self._add_switchable_hook(target, layer, "post")

    def _add_switchable_hook(self, target, layer, where):
        add_hook(target, layer, where=where)
        self.on_disable(
            lambda: set_hooks_enabled(target, False),
            lambda: set_hooks_enabled(target, True),
        )

    def on_disable(self, switch_off, switch_on):
        """Register how to switch a change made inside a layer off and on."""
        self.state.toggles.append((switch_off, switch_on))

    # --- Named base layers --------------------------------------------------
    def attention_projections(self):
        """`(key, Dense)` for every q, k, v, o of every attention sublayer."""
        out = []
        for block in self.blocks():
            for site in ("self_attention", "cross_attention"):
                if site not in self.sites_of(block):
                    continue
                attention = getattr(block.layer, site)
                for part in ("query", "key", "value", "output"):
                    dense = getattr(attention, f"{part}_projector")
                    out.append((f"{block.key}/{site}/{part}", dense))
        return out

    def feed_forward_projections(self):
        out = []
        for block in self.blocks():
            for part in ("input_projector", "gate_projector", "output_projector"):
                dense = getattr(block.layer, part, None)
                if dense is not None:
                    out.append((f"{block.key}/feed_forward/{part}", dense))
        return out

    def layer_norms(self, include_final=True):
        """`(key, layer)` for every T5 layer norm, final stack norms last."""
        out = []
        for block in self.blocks():
            for attr, site in (
                ("self_attention_layer_norm", "self_attention"),
                ("cross_attention_layer_norm", "cross_attention"),
                ("layer_norm", "feed_forward"),
            ):
                norm = getattr(block.layer, attr, None)
                if norm is not None:
                    out.append((f"{block.key}/{site}/layer_norm", norm))
        if include_final:
            out.append(("encoder/final_layer_norm", self.backbone.encoder_layer_norm))
            out.append(("decoder/final_layer_norm", self.backbone.decoder_layer_norm))
        return out

    def named_base_variables(self):
        """Every variable of the base model under a stable, structural name.

        Call before any method changes the model: variables added later
        (adapters, BitFit biases) are not the base model's.
        """
        named = [("token_embedding", self.backbone.token_embedding)]
        named += self.attention_projections()
        for block in self.blocks():
            for site in ("self_attention", "cross_attention"):
                if site in self.sites_of(block):
                    # The attention layer's own weight: the relative bias.
                    attention = getattr(block.layer, site)
                    for variable in _own_variables(attention):
                        named.append((f"{block.key}/{site}", variable))
        named += self.feed_forward_projections()
        named += self.layer_norms()
        out, seen = [], set()
        for key, item in named:
            variables = [item] if isinstance(item, keras.Variable) else item.weights
            for variable in variables:
                if id(variable) not in seen:
                    seen.add(id(variable))
                    out.append((f"{key}/{variable.name}", variable))
        # Anything the enumeration missed still gets a (path-based) name.
        for variable in self.backbone.weights:
            if id(variable) not in seen:
                seen.add(id(variable))
                out.append((f"other/{variable.path}", variable))
        return out

    # --- Model-level entry points ------------------------------------------
    def require_task(self, what):
        if self.task is None:
            raise NeedsTaskError(
                f"{what} needs the task model: inject into a "
                "keras_hub.models.T5Seq2SeqLM (e.g. "
                "`inject(keras_hub.models.T5Seq2SeqLM(backbone=backbone), ...)`) "
                "rather than a bare T5Backbone."
            )

    def prefix_encoder_input(self, prefix):
        """Prepend `prefix(x)` to the encoder input embeddings.

        `prefix` is a layer with `__call__(embeddings)` and
        `extend_mask(padding_mask)`, and a `length` attribute.
        """
        self.require_task("A prefix on the encoder input")
        state = self.state
        if state.encoder_prefix is not None:
            raise ValueError("The encoder input already has a prefix.")
        state.encoder_prefix = prefix
        # Before the encoder's embedding dropout, so the prompts are dropped
        # out like the token embeddings they join.
        self._add_switchable_hook(
            self.backbone.encoder_embedding_dropout, prefix, "pre"
        )

    def add_logits_hook(self, layer):
        self.require_task("A hook on the logits")
        task = self.task
        hooks = list(getattr(task, "compacter_logits_hooks", []))
        attach_sublayer(task, "compacter_logits_hooks", [*hooks, layer])

    def add_forward_scope(self, owner, make_scope):
        """Enter `make_scope()` around every forward pass of the model.

        `owner` (a layer holding the state the scope uses) is tracked by the
        backbone so its weights are the model's.
        """
        self.require_task("A scope around the forward pass")
        attach_sublayer(self.backbone, "compacter_forward_state", owner)
        self.state.forward_scopes.append(make_scope)

    # --- Adapting ------------------------------------------------------------
    @property
    def state(self):
        return self.backbone.__dict__["_compacter_adaptations"]

    def is_adapted(self):
        return adaptations(self.backbone) is not None

    def begin(self):
        """Mark the model as adapted (class swap) and return its state."""
        state = Adaptations()
        self.backbone.__dict__["_compacter_adaptations"] = state
        self.backbone.__class__ = AdaptedT5Backbone
        if self.task is not None:
            self.backbone.__dict__["_compacter_inside_task"] = True
            self.task.__class__ = AdaptedT5Seq2SeqLM
            if not hasattr(self.task, "compacter_logits_hooks"):
                attach_sublayer(self.task, "compacter_logits_hooks", [])
        return state

    def reset_compiled_functions(self):
        for model in (self.task, self.backbone):
            if model is None:
                continue
            for attr in (
                "train_function",
                "test_function",
                "predict_function",
                "generate_function",
            ):
                if hasattr(model, attr):
                    setattr(model, attr, None)


def _own_variables(layer):
    return list(layer._trainable_variables) + list(layer._non_trainable_variables)
