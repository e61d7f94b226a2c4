"""``Neighborhood``: padded per-type neighbor ids, importance weights and masks of a seed batch.

The output of :class:`~graphrep.samplers.importance.ImportanceSampler` and
:func:`~graphrep.samplers.ppr.ppr_push`. For every node type ``t`` with a quota
``k_t``, row ``b`` lists seed ``b``'s top neighbors of that type, most important
first (ties: smaller id first), padded to ``k_t``:

* ``ids[t]``: ``int64 [B, k_t]`` node ids (``0`` on padding);
* ``weights[t]``: ``float32 [B, k_t]`` L1-normalised importance over the kept
  neighbors of the row (each valid row sums to 1; ``0`` on padding);
* ``mask[t]``: ``bool [B, k_t]``, true on real neighbors. A seed with no
  neighbor of type ``t`` (e.g. an isolated node) has an all-false row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Neighborhood:
    """Padded neighbors per node type (see the module docstring).

    Args:
        ids: per node type, ``int64 [B, k_t]`` neighbor ids.
        weights: per node type, ``float32 [B, k_t]`` normalised importance.
        mask: per node type, ``bool [B, k_t]`` validity.
    """

    ids: dict[str, torch.Tensor]
    weights: dict[str, torch.Tensor]
    mask: dict[str, torch.Tensor]

    @property
    def node_types(self) -> list[str]:
        return list(self.ids)

    def __len__(self) -> int:
        """Batch size ``B``."""
        return int(next(iter(self.ids.values())).shape[0]) if self.ids else 0

    def to(self, device: torch.device | str) -> Neighborhood:
        """A copy with every tensor on ``device``."""
        return Neighborhood(
            {t: v.to(device) for t, v in self.ids.items()},
            {t: v.to(device) for t, v in self.weights.items()},
            {t: v.to(device) for t, v in self.mask.items()},
        )

    @staticmethod
    def cat(parts: list[Neighborhood]) -> Neighborhood:
        """The seeds of ``parts`` one after the other (same node types and widths)."""
        return Neighborhood(
            *({t: torch.cat([getattr(p, f)[t] for p in parts]) for t in parts[0].ids}
              for f in ("ids", "weights", "mask"))
        )  # fmt: skip

    def take(self, rows: np.ndarray | torch.Tensor) -> Neighborhood:
        """The neighbourhoods of the seeds at positions ``rows`` (in that order)."""
        idx = torch.as_tensor(np.asarray(rows, dtype=np.int64))
        return Neighborhood(
            {t: v[idx] for t, v in self.ids.items()},
            {t: v[idx] for t, v in self.weights.items()},
            {t: v[idx] for t, v in self.mask.items()},
        )

    def counts(self, node_type: str) -> torch.Tensor:
        """Number of valid neighbors of ``node_type`` per seed (``int64 [B]``)."""
        return self.mask[node_type].sum(dim=1)

    @staticmethod
    def allocate(
        quotas: dict[str, int], batch: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Flat kernel outputs for ``quotas``: ``(col, ids, weights, mask)``.

        Type ``t`` (``i``-th in ``quotas``) owns columns ``col[i]:col[i] + k_t`` of the
        ``[batch, sum(k)]`` arrays, which start as padding (0 / 0.0 / False). One
        flat layout keeps a single compiled kernel for any number of types.
        """
        ks = np.array(list(quotas.values()), dtype=np.int64)
        col = np.concatenate([[0], np.cumsum(ks)[:-1]]).astype(np.int64)
        total = int(ks.sum())
        return (
            col,
            np.zeros((batch, total), dtype=np.int64),
            np.zeros((batch, total), dtype=np.float32),
            np.zeros((batch, total), dtype=np.bool_),
        )

    @classmethod
    def from_flat(
        cls, quotas: dict[str, int], ids: np.ndarray, weights: np.ndarray, mask: np.ndarray
    ) -> Neighborhood:
        """Split :meth:`allocate`'s arrays into contiguous per-type tensors."""
        if len(quotas) == 1:
            (t,) = quotas
            return cls.from_numpy({t: ids}, {t: weights}, {t: mask})
        out: tuple[dict[str, np.ndarray], ...] = ({}, {}, {})
        c = 0
        for t, k in quotas.items():
            for d, a in zip(out, (ids, weights, mask), strict=True):
                d[t] = np.ascontiguousarray(a[:, c : c + k])
            c += k
        return cls.from_numpy(*out)

    @classmethod
    def from_numpy(
        cls, ids: dict[str, np.ndarray], weights: dict[str, np.ndarray], mask: dict[str, np.ndarray]
    ) -> Neighborhood:
        """Wrap numpy arrays as tensors without copying."""
        return cls(
            {t: torch.from_numpy(a) for t, a in ids.items()},
            {t: torch.from_numpy(a) for t, a in weights.items()},
            {t: torch.from_numpy(a) for t, a in mask.items()},
        )
