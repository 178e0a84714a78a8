"""`full`: full fine-tuning, the reference every method is measured against."""

import dataclasses

from keras_compacter.methods.base import MethodConfig, Trained


@dataclasses.dataclass
class FullFineTuningConfig(MethodConfig):
    """Every weight of the model trains.

    Args:
        learning_rate: the paper's, 3e-4.
    """

    learning_rate: float = 3e-4

    name = "full"
    description = "Full fine-tuning: every weight trains (the reference)."

    def apply(self, wiring):
        trained = []
        for key, variable in wiring.state.base_variables:
            variable.trainable = True
            trained.append(Trained("base model", key, variable))
        return trained
