r"""Node-id embedding tables: exact rows, hashed rows, or a frequency hybrid, in one module.

A content-free node type (users, or every node of an interaction graph) is known
to the model only through its id. :class:`IdEmbedding` gives node :math:`v` of a
type with :math:`n` nodes the vector

.. math::
    \mathbf{e}(v) = \begin{cases}
        \mathbf{E}[\,r(v)\,] & v \in F \quad (\text{an exact row}) \\
        \sum_{k=1}^{H} \mathbf{E}\big[\,|F| + h_k(v) \bmod N\,\big] & v \notin F
        \quad (\text{hashed rows, the "hashing trick"})
    \end{cases}

where :math:`F` is the set of ids with exact rows: all ids (``"exact"``, one row
per node, :math:`N = 0`), none (``"hashed"``), or the most frequent ones
(``"hybrid"``: exact rows for the head of a Zipf-distributed popularity, shared
hashed rows for the long tail, as in TorchRec's and Monolith's collisionless
tables). :func:`choose_mode` picks exact whenever the table fits a byte budget
(``"auto"``).

Gradients are **sparse** by default (``sparse=True``): a step touches only the
rows of the ids in its batch, and a row-wise sparse optimizer
(:class:`torch.optim.SparseAdam`, see :class:`~graphrep.train.optim.RunOptimizer`)
updates only those rows, so the cost of a step does not grow with the table (as
in PyTorch-BigGraph and TorchRec). Tables can be initialised from given vectors
(:meth:`IdEmbedding.load_vectors`, e.g. a spectral embedding,
:mod:`graphrep.models.spectral`).

**Nodes added after training** (:mod:`graphrep.embed.encode`) have ids
:math:`\ge n` and no trained row. After :meth:`IdEmbedding.admit_new_ids` they embed as
the zero vector in every mode (a hashed row would be some trained nodes' row), so an
encoder sees them through their features, degree and neighbours only.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrep.errors import ConfigError, ShapeError
from graphrep.models.hash_text import hash_ids

MODES = ("exact", "hashed", "hybrid")
_BYTES = 4  # float32 rows


def choose_mode(mode: str, num_nodes: int, dim: int, budget_bytes: int) -> str:
    """Resolve ``"auto"``: ``"exact"`` if ``num_nodes`` rows of ``dim`` floats fit
    ``budget_bytes``, else ``"hybrid"``; other modes are returned as given.

    Raises:
        ConfigError: an unknown mode, or a non-positive budget with ``"auto"``.
    """
    if mode not in (*MODES, "auto"):
        raise ConfigError(f"model.id_embedding must be one of {[*MODES, 'auto']}, got {mode!r}")
    if mode != "auto":
        return mode
    if budget_bytes <= 0:
        raise ConfigError(f"model.id_budget_mb must be > 0 with id_embedding='auto', got {budget_bytes}")
    return "exact" if num_nodes * dim * _BYTES <= budget_bytes else "hybrid"


def budget_rows(budget_bytes: int, dim: int) -> int:
    """How many ``dim``-float rows fit ``budget_bytes``."""
    return max(1, int(budget_bytes) // (dim * _BYTES))


class IdEmbedding(nn.Module):
    r"""Exact, hashed or hybrid node-id embeddings (see the module docstring for the math).

    Args:
        num_nodes (int): ids are ``[0, num_nodes)``.
        dim (int): embedding size.
        mode (str, optional): ``"exact"``, ``"hashed"`` or ``"hybrid"``. (default: :obj:`"exact"`)
        num_buckets (int, optional): hashed rows :math:`N` (``"hashed"`` and the tail of
            ``"hybrid"``). (default: :obj:`2**16`)
        num_exact (int, optional): exact rows :math:`|F|` of ``"hybrid"`` (the ids are set with
            :meth:`set_frequent`; until then the ids ``0..num_exact-1``). (default: :obj:`0`)
        num_hashes (int, optional): hash functions :math:`H`. (default: :obj:`2`)
        sparse (bool, optional): sparse gradients (for a row-wise sparse optimizer).
            (default: :obj:`True`)
    """

    def __init__(
        self,
        num_nodes: int,
        dim: int,
        mode: str = "exact",
        num_buckets: int = 2**16,
        num_exact: int = 0,
        num_hashes: int = 2,
        sparse: bool = True,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ConfigError(f"IdEmbedding: mode must be one of {list(MODES)}, got {mode!r}")
        for name, value, low in (("num_nodes", num_nodes, 0), ("dim", dim, 1),
                                 ("num_buckets", num_buckets, 1), ("num_exact", num_exact, 0)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"IdEmbedding: {name} must be an int >= {low}, got {value!r}")
        if not 1 <= num_hashes <= 4:
            raise ConfigError(f"IdEmbedding: num_hashes must be in [1, 4], got {num_hashes}")
        self.num_nodes, self.dim, self.mode = num_nodes, dim, mode
        self.num_hashes, self.sparse = num_hashes, bool(sparse)
        self.new_ids = False  # ids >= num_nodes: an error (training) or zero rows (inference)
        if mode == "exact":
            self.num_exact, self.num_buckets = num_nodes, 0
        elif mode == "hashed":
            self.num_exact, self.num_buckets = 0, num_buckets
        else:
            self.num_exact, self.num_buckets = min(num_exact, num_nodes), num_buckets
        self.weight = nn.Parameter(torch.empty(self.num_exact + self.num_buckets, dim))
        # hybrid: the ids with exact rows, sorted, and the exact row of each (a buffer, so a
        # checkpoint carries them)
        self.register_buffer("frequent_sorted", torch.arange(self.num_exact if mode == "hybrid" else 0))
        self.register_buffer("frequent_rows", torch.arange(self.num_exact if mode == "hybrid" else 0))
        self.reset_parameters()

    @property
    def num_rows(self) -> int:
        """Rows of the table (exact + hashed)."""
        return self.num_exact + self.num_buckets

    def reset_parameters(self) -> None:
        """Exact rows :math:`\\mathcal{N}(0, 1/D)`; hashed rows :math:`\\mathcal{N}(0, 1/(HD))`
        (a sum of :math:`H` of them has the variance of one exact row)."""
        with torch.no_grad():
            nn.init.normal_(self.weight[: self.num_exact], std=self.dim**-0.5)
            nn.init.normal_(self.weight[self.num_exact :], std=(self.num_hashes * self.dim) ** -0.5)

    def set_frequent(self, ids_by_frequency: object) -> None:
        """``"hybrid"``: give exact rows to the first ``num_exact`` of ``ids_by_frequency``
        (e.g. ids sorted by decreasing degree)."""
        if self.mode != "hybrid":
            raise ConfigError(f"IdEmbedding.set_frequent applies to mode 'hybrid', not {self.mode!r}")
        ids = np.asarray(ids_by_frequency, dtype=np.int64)[: self.num_exact]
        if len(ids) != self.num_exact or len(np.unique(ids)) != len(ids):
            raise ConfigError(
                f"IdEmbedding.set_frequent: need {self.num_exact} distinct ids, got {len(ids)} "
                f"({len(np.unique(ids))} distinct)"
            )
        if len(ids) and (ids.min() < 0 or ids.max() >= self.num_nodes):
            raise ConfigError(f"IdEmbedding.set_frequent: ids must be in [0, {self.num_nodes})")
        order = np.argsort(ids, kind="stable")
        self.frequent_sorted.copy_(torch.from_numpy(ids[order]))
        self.frequent_rows.copy_(torch.from_numpy(order))

    def rows(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        """Table rows ``[*S, H]`` and their weights ``[*S, H]`` (1 or 0) of ``ids [*S]``."""
        if not isinstance(ids, Tensor) or ids.dtype != torch.long:
            got = f"{ids.dtype} tensor" if isinstance(ids, Tensor) else type(ids).__name__
            raise ShapeError(f"IdEmbedding: ids must be a torch.long tensor, got {got}")
        if self.mode == "exact":
            return ids.unsqueeze(-1), torch.ones(*ids.shape, 1, device=ids.device)
        hashed = torch.stack(
            [self.num_exact + hash_ids(ids, k) % self.num_buckets for k in range(self.num_hashes)],
            -1,
        )
        if self.mode == "hashed" or self.num_exact == 0:
            return hashed, torch.ones(hashed.shape, device=ids.device)
        pos = torch.searchsorted(self.frequent_sorted, ids).clamp_max(self.num_exact - 1)
        hit = self.frequent_sorted[pos] == ids
        exact = self.frequent_rows[pos]
        rows = torch.where(hit.unsqueeze(-1), exact.unsqueeze(-1).expand_as(hashed), hashed)
        weight = torch.ones(hashed.shape, device=ids.device)
        weight[..., 1:] = (~hit).unsqueeze(-1).to(weight.dtype)  # an exact id uses one row
        return rows, weight

    def admit_new_ids(self, enable: bool = True) -> None:
        """Let ids ``>= num_nodes`` through as nodes added after training: their rows are zero."""
        self.new_ids = bool(enable)

    def forward(self, ids: Tensor) -> Tensor:
        """``ids`` LongTensor of any shape -> ``[*ids.shape, dim]``."""
        if self.new_ids and isinstance(ids, Tensor) and ids.numel():
            new = ids >= self.num_nodes
            if bool(new.any()):
                out = self._lookup(ids.masked_fill(new, 0))
                return out.masked_fill(new.unsqueeze(-1), 0.0)
        return self._lookup(ids)

    def _lookup(self, ids: Tensor) -> Tensor:
        if self.mode == "exact":
            if not isinstance(ids, Tensor) or ids.dtype != torch.long:
                self.rows(ids)  # raises the ShapeError
            return F.embedding(ids, self.weight, sparse=self.sparse)
        rows, weight = self.rows(ids)
        h = rows.shape[-1]
        out = F.embedding_bag(
            rows.reshape(-1, h), self.weight, per_sample_weights=weight.reshape(-1, h).to(self.weight.dtype),
            mode="sum", sparse=self.sparse,
        )  # fmt: skip
        return out.reshape(*ids.shape, self.dim)

    @torch.no_grad()
    def load_vectors(self, vectors: object, noise_std: float = 0.0, seed: int = 0) -> None:
        """Initialise the exact rows from ``vectors [num_nodes, d]`` (``d <= dim``; missing
        columns get ``noise_std`` Gaussian noise; hashed tail rows are left as they are).

        Raises:
            ShapeError: wrong number of rows, more columns than ``dim``, or non-finite values.
        """
        x = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
        if x.dim() != 2 or x.shape[0] != self.num_nodes or x.shape[1] > self.dim:
            raise ShapeError(
                f"IdEmbedding.load_vectors: expected [{self.num_nodes}, <= {self.dim}] vectors, "
                f"got {tuple(x.shape)}"
            )
        if not bool(torch.isfinite(x).all()):
            raise ShapeError("IdEmbedding.load_vectors: vectors hold NaN or inf")
        ids = torch.arange(self.num_nodes) if self.mode == "exact" else self.frequent_sorted
        rows = ids if self.mode == "exact" else self.frequent_rows
        gen = torch.Generator().manual_seed(seed)
        target = torch.randn(len(rows), self.dim, generator=gen) * noise_std
        target[:, : x.shape[1]] = x[ids]
        self.weight[rows] = target.to(self.weight.dtype)

    def extra_repr(self) -> str:
        return (
            f"num_nodes={self.num_nodes}, dim={self.dim}, mode={self.mode!r}, "
            f"exact_rows={self.num_exact}, hashed_rows={self.num_buckets}, sparse={self.sparse}"
        )
