r"""Query–entity task: a search query's embedding retrieves the pins clicked from it.

OmniSage (https://arxiv.org/abs/2504.17811) and OmniSearchSage
(https://arxiv.org/abs/2404.16260) align queries with the entities engaged from
their results. Positives are the edges of ``("query", "clicked", "pin")``
(optionally at most ``max_per_dst`` pairs per pin and epoch, so head pins do not
dominate); the loss is the entity–entity sampled softmax
(:mod:`graphrep.tasks.entity_entity`) with **mixed** negatives: the batch's
other clicked pins plus shared pins drawn by popularity (total degree to the
power ``popularity_alpha``), both logQ-corrected:

.. math::
    s(q, c) = \frac{\mathbf{z}_q^\top \mathbf{z}_c}{\tau} - \log Q(c).
"""

from __future__ import annotations

from typing import Any

from graphrep.graph.validate import EdgeType
from graphrep.tasks.entity_entity import EntityEntityTask
from graphrep.tasks.inputs import InputBuilder

QUERY_CLICKED_PIN: EdgeType = ("query", "clicked", "pin")


class QueryEntityTask(EntityEntityTask):
    """:class:`EntityEntityTask` on query→entity clicks with mixed popularity negatives.

    Args:
        builder: encoder-input builder.
        relation: the query→entity relation. (default: ``("query", "clicked", "pin")``)
        max_per_dst: cap of pairs per entity and epoch (``None`` = no cap).
        negatives: ``"mixed"`` (default) or ``"in_batch"``.
        random_negatives: ``"popularity"`` (default) or ``"uniform"``.
        name: task name. (default: ``"query_entity"``)
        **kwargs: further :class:`EntityEntityTask` arguments (``batch_size``,
            ``num_random_negatives``, ``seed``, ...).
    """

    default_negatives = "mixed"
    default_random = "popularity"

    def __init__(
        self,
        builder: InputBuilder,
        relation: str | EdgeType = QUERY_CLICKED_PIN,
        max_per_dst: int | None = None,
        name: str = "query_entity",
        **kwargs: Any,
    ) -> None:
        super().__init__(builder, relation, max_per_dst=max_per_dst, name=name, **kwargs)
