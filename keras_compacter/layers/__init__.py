"""Building blocks: the layers every method of the library is made of."""

from keras_compacter.layers.bias import BiasAdd
from keras_compacter.layers.bottleneck_adapter import BottleneckAdapter, gelu_tanh
from keras_compacter.layers.initializers import BlockGlorotUniform
from keras_compacter.layers.low_rank_dense import LowRankDense
from keras_compacter.layers.phm_dense import PHMDense
from keras_compacter.layers.phm_rule import SharedPHMRule
from keras_compacter.layers.prompt_embedding import PromptEmbedding

__all__ = [
    "BiasAdd",
    "BlockGlorotUniform",
    "BottleneckAdapter",
    "LowRankDense",
    "PHMDense",
    "PromptEmbedding",
    "SharedPHMRule",
    "gelu_tanh",
]
