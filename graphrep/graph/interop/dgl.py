"""Conversion of a :class:`HeteroGraph` to a DGL heterograph (optional dependency).

DGL (https://www.dgl.ai) is not a dependency of graphrep: install the ``dgl`` extra.
Mapping: node types keep their names and counts; every relation (reverses included by
default) becomes a canonical edge type with its edges in CSR order; dense features go
to ``g.nodes[nt].data[name]``, integer external ids to ``g.nodes[nt].data["ext_id"]``,
edge arrays to ``g.edges[et].data[name]``. Ragged token features and string ids have no
DGL tensor form and are left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from graphrep.graph.heterograph import HeteroGraph
from graphrep.graph.ragged import Ragged

MISSING_DGL = (
    "to_dgl() needs the optional dependency dgl (pip install graphrep[dgl]; "
    "DGL 2.1 requires torch <= 2.2)"
)


def _import_dgl() -> Any:
    try:
        import dgl
    except (ImportError, OSError) as exc:  # OSError: DGL's native library failed to load
        raise ImportError(MISSING_DGL) from exc
    return dgl


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a, copy=True, order="C"))


def to_dgl(graph: HeteroGraph, include_reverse: bool = True) -> Any:
    """Convert to ``dgl.DGLGraph`` (a heterograph; layout in the module docstring).

    Args:
        graph: the graph.
        include_reverse: add the ``rev_<rel>`` relations (DGL message passing follows
            edge direction, so most models need both).

    Raises:
        ImportError: dgl is not installed (or cannot load); the message says how to
            install it.
    """
    dgl = _import_dgl()
    edge_types = graph.edge_types if include_reverse else graph.canonical_edge_types
    data_dict = {}
    for et in edge_types:
        src, dst = graph.csr(et).to_coo()
        data_dict[et] = (torch.from_numpy(src), torch.from_numpy(dst))
    g = dgl.heterograph(data_dict, num_nodes_dict=dict(graph.num_nodes))
    for nt in graph.num_nodes:
        ids = graph.node_ids.get(nt)
        if ids is not None and ids.dtype.kind == "i":
            g.nodes[nt].data["ext_id"] = _tensor(ids)
        for name, feat in graph.features[nt].items():
            if not isinstance(feat, Ragged):
                g.nodes[nt].data[name] = _tensor(feat)
    for et in edge_types:
        for name, arr in graph.csr(et).edge_data.items():
            g.edges[et].data[name] = _tensor(arr)
    return g
