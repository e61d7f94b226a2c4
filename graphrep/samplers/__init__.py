"""Compiled (numba) samplers: walks, importance neighborhoods, pairs, negatives, sequences."""

from graphrep.samplers.importance import ImportanceSampler, importance_neighbors
from graphrep.samplers.metapath import MetaPath
from graphrep.samplers.neighborhood import Neighborhood
from graphrep.samplers.node2vec import node2vec_walk
from graphrep.samplers.ppr import ppr_push
from graphrep.samplers.walks import random_walk

__all__ = [
    "ImportanceSampler",
    "MetaPath",
    "Neighborhood",
    "importance_neighbors",
    "node2vec_walk",
    "ppr_push",
    "random_walk",
]
