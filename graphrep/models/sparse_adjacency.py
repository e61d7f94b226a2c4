"""A ``torch`` sparse CSR matrix from coordinate entries, for full-graph propagation.

:func:`~graphrep.models.lightgcn.bipartite_adjacency` and
:func:`~graphrep.models.full_graph_sage.mean_adjacency` build their (normalised) adjacency
through :func:`csr_tensor`: entries sorted by row then column, ``indptr`` from the row
counts, and torch's "sparse CSR is in beta" notice silenced (the indices are valid by
construction).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor


def csr_tensor(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n: int) -> Tensor:
    """The ``[n, n]`` sparse CSR tensor with ``values[j]`` at ``(rows[j], cols[j])``.

    Args:
        rows, cols: ``int64`` coordinates in ``[0, n)``, distinct pairs, any order.
        values: ``float32`` entries, one per pair.
        n: rows and columns.
    """
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]).astype(np.int64)
    vals = np.ascontiguousarray(np.asarray(values, dtype=np.float32)[order])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(torch.from_numpy(indptr), torch.from_numpy(np.ascontiguousarray(cols)),
                                       torch.from_numpy(vals), size=(n, n))  # fmt: skip
