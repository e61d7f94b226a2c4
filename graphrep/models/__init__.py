"""Encoders (content, entity, PinSage, sequence), losses, hash embeddings and feature batching."""

from graphrep.models.content import ContentEncoder, ModalityTokens
from graphrep.models.encoders import IdTableSpec, build_encoders
from graphrep.models.entity import EntityEncoder
from graphrep.models.features import FeatureBatch, FeatureSchema, NodeFeaturizer, NodeSchema
from graphrep.models.hadamard_mlp import HadamardMLP
from graphrep.models.hash_text import HashTextEmbedder, tokenize
from graphrep.models.id_embedding import IdEmbedding
from graphrep.models.light import LightEncoder
from graphrep.models.link_bce import LinkBCE
from graphrep.models.max_margin import MaxMargin
from graphrep.models.omnisage import OmniSage
from graphrep.models.pinsage import PinSage, PinSageConv
from graphrep.models.sampled_softmax import SampledSoftmax
from graphrep.models.sequence import SequenceEncoder, fourier_time_features
from graphrep.models.sketch import CountMinSketch, ExactLogQ, LogQEstimator, SketchLogQ
from graphrep.models.skip import PropagatedSkip
from graphrep.models.skipgram import SkipGram
from graphrep.models.tokens import RawFeatureTokens

__all__ = [
    "ContentEncoder",
    "CountMinSketch",
    "EntityEncoder",
    "ExactLogQ",
    "FeatureBatch",
    "FeatureSchema",
    "HadamardMLP",
    "HashTextEmbedder",
    "IdEmbedding",
    "IdTableSpec",
    "LightEncoder",
    "LinkBCE",
    "LogQEstimator",
    "MaxMargin",
    "ModalityTokens",
    "NodeFeaturizer",
    "NodeSchema",
    "OmniSage",
    "PinSage",
    "PinSageConv",
    "PropagatedSkip",
    "RawFeatureTokens",
    "SampledSoftmax",
    "SequenceEncoder",
    "SketchLogQ",
    "SkipGram",
    "build_encoders",
    "fourier_time_features",
    "tokenize",
]
