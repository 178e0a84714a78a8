"""`bitfit`: train only biases, added where T5 has none."""

import dataclasses

from keras_compacter.layers import BiasAdd
from keras_compacter.methods.base import MethodConfig, Trained
from keras_compacter.models.hooks import add_hook, enable_dense_bias


@dataclasses.dataclass
class BitFitConfig(MethodConfig):
    """Zero-initialised biases on every attention projection (q, k, v, o),
    every feed-forward projection, every layer norm but the two final stack
    norms, and the LM head's logits; only these train (Ben Zaken et al.).

    Args:
        learning_rate: the paper's, 3e-4.
    """

    learning_rate: float = 3e-4

    name = "bitfit"
    description = "Train only zero-initialised biases added to T5 (Ben Zaken et al.)."

    def validate(self, wiring):
        wiring.require_task("BitFit's logit bias")

    def apply(self, wiring):
        trained = []
        for key, dense in (
            wiring.attention_projections() + wiring.feed_forward_projections()
        ):
            trained.append(Trained("biases", f"{key}/bias", enable_dense_bias(dense)))
        for key, norm in wiring.layer_norms(include_final=False):
            bias = BiasAdd(wiring.hidden_dim, name=f"{key.replace('/', '_')}_bias")
            add_hook(norm, bias, where="post")
            trained.append(Trained("biases", f"{key}/bias", bias.bias))
        logit_bias = BiasAdd(wiring.vocabulary_size, name="logit_bias")
        wiring.add_logits_hook(logit_bias)
        trained.append(Trained("biases", "lm_head/logit_bias", logit_bias.bias))
        return trained
