"""`bitfit`: train only biases, added where T5 has none."""

import dataclasses

from keras_compacter.layers import BiasAdd
from keras_compacter.methods.base import MethodConfig, Trained
from keras_compacter.models.hooks import enable_dense_bias


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
        projections = wiring.attention_projections() + wiring.feed_forward_projections()
        for key, dense in projections:
            bias = enable_dense_bias(dense)
            trained.append(Trained("biases", f"{key}/bias", bias))
            wiring.on_disable(*_bias_switches(dense, bias))
        for key, norm in wiring.layer_norms(include_final=False):
            bias = BiasAdd(wiring.hidden_dim, name=f"{key.replace('/', '_')}_bias")
            wiring.add_output_hook(norm, bias)
            trained.append(Trained("biases", f"{key}/bias", bias.bias))
        logit_bias = BiasAdd(wiring.vocabulary_size, name="logit_bias")
        wiring.add_logits_hook(logit_bias)
        trained.append(Trained("biases", "lm_head/logit_bias", logit_bias.bias))
        return trained


def _bias_switches(dense, bias):
    # `Dense.call` adds `self.bias` when it is not None; bypass the tracker,
    # which would otherwise track the variable again.
    def switch_off():
        vars(dense)["bias"] = None

    def switch_on():
        vars(dense)["bias"] = bias

    return switch_off, switch_on
