r"""A linear skip path from a node's propagated features to its embedding.

On attributed graphs the features smoothed over the graph (SGC, `arXiv:1902.07153
<https://arxiv.org/abs/1902.07153>`_; APPNP, `arXiv:1810.05997
<https://arxiv.org/abs/1810.05997>`_) already carry most of what a GNN learns, yet a
learned read-out can lose it: the propagated token enters the encoder mixed with the
(far larger) raw features and pooled neighbours. The skip path keeps it, in the spirit
of a residual connection (`arXiv:1512.03385 <https://arxiv.org/abs/1512.03385>`_): with
:math:`\mathbf{p}_v` the concatenation of the node's propagated dense features
(:mod:`graphrep.models.propagated`, the ``"<name>@ppr"`` features) and :math:`f(v)`
the encoder's output before normalisation,

.. math::
    \mathbf{z}_v = \frac{f(v) + \mathbf{S}\mathbf{p}_v + \mathbf{s}}
    {\lVert f(v) + \mathbf{S}\mathbf{p}_v + \mathbf{s} \rVert_2}.

:math:`\mathbf{S}` starts as a random projection (``nn.Linear``'s initialisation), which
keeps most of what :math:`\mathbf{p}_v` holds (Johnson--Lindenstrauss); the encoder that
owns the path zero-initialises the last layer of :math:`f` (as ReZero / "zero-init
residual", `arXiv:2003.04887 <https://arxiv.org/abs/2003.04887>`_), so the untrained
embedding *is* the projected propagated features and training adds to it. A node whose
own features are masked (GraphMAE) has :math:`\mathbf{p}_v = \mathbf{0}` and is embedded
by :math:`f` alone.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from graphrep.errors import ConfigError
from graphrep.models.features import FeatureBatch, NodeSchema
from graphrep.models.propagated import SUFFIX


def propagated_names(schema: NodeSchema) -> list[str]:
    """The type's propagated dense features (``"<name>@ppr"``), in schema order."""
    return [k for k in schema.dense if k.endswith(SUFFIX)]


class PropagatedSkip(nn.Module):
    r""":math:`\mathbf{S}\mathbf{p}_v + \mathbf{s}`: a linear map of a node's propagated
    dense features to the embedding space (module docstring).

    Args:
        schema (NodeSchema): the node type's features; it must have propagated ones.
        dim (int): output size ``D``.

    Raises:
        ConfigError: the type has no propagated dense feature (``model.propagated`` off).
    """

    def __init__(self, schema: NodeSchema, dim: int) -> None:
        super().__init__()
        self.names = propagated_names(schema)
        if not self.names:
            raise ConfigError(
                f"the propagated skip path of node type {schema.node_type!r} needs propagated "
                f"dense features ('<name>{SUFFIX}', model.propagated=true); its dense features "
                f"are {sorted(schema.dense)}"
            )
        self.lin = nn.Linear(sum(schema.dense[k] for k in self.names), dim)

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()

    def forward(self, fb: FeatureBatch) -> Tensor:
        """``[*S, D]`` from a batch's propagated features (leading shape ``S``)."""
        x = torch.cat([fb.dense[k].to(self.lin.weight.dtype) for k in self.names], -1)
        return self.lin(x)

    def extra_repr(self) -> str:
        return f"features={self.names}"
