"""Training tasks: each turns a sampled batch into a loss; a weighted multi-task sum.

Every task has ``sample(step) -> batch`` (CPU, numpy/numba, no model access; the
same ``(seed, step)`` gives the same batch), ``attach(model)`` (registers its
loss modules on :class:`~graphrep.models.omnisage.OmniSage`) and
``loss(model, batch) -> (loss, metrics)``.
"""

from graphrep.tasks.cca import CCATask, TwoViewBatch, cca_ssg_loss
from graphrep.tasks.entity_entity import EntityEntityTask, PairTaskBatch
from graphrep.tasks.entity_feature import EntityFeatureTask, FeatureTaskBatch
from graphrep.tasks.inputs import (
    PINTEREST_METAPATHS,
    PINTEREST_QUOTAS,
    EntityInputs,
    InputBuilder,
    ItemInputs,
    NeighborConfig,
    default_samplers,
)
from graphrep.tasks.masked_features import MaskedBatch, MaskedFeatureTask, scaled_cosine_error
from graphrep.tasks.multitask import MultiTask
from graphrep.tasks.negatives import RandomNegatives
from graphrep.tasks.query_entity import QueryEntityTask
from graphrep.tasks.user_entity import UserEntityTask, UserTaskBatch

__all__ = [
    "PINTEREST_METAPATHS",
    "PINTEREST_QUOTAS",
    "CCATask",
    "EntityEntityTask",
    "EntityFeatureTask",
    "EntityInputs",
    "FeatureTaskBatch",
    "InputBuilder",
    "ItemInputs",
    "MaskedBatch",
    "MaskedFeatureTask",
    "MultiTask",
    "NeighborConfig",
    "PairTaskBatch",
    "QueryEntityTask",
    "RandomNegatives",
    "TwoViewBatch",
    "UserEntityTask",
    "UserTaskBatch",
    "cca_ssg_loss",
    "default_samplers",
    "scaled_cosine_error",
]
