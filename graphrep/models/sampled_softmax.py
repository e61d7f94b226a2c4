"""Sampled softmax with a learned temperature, mixed negatives and logQ correction.

The contrastive loss of ItemSage / OmniSage / PinnerFormer: each query is scored
against its positive and a set of sampled negatives, and a softmax cross-entropy
pushes the positive to the top. Sampling bias is removed with the logQ
correction of Yi et al. ["Sampling-Bias-Corrected Neural Modeling for Large
Corpus Item Recommendations", RecSys 2019, https://research.google/pubs/pub48840/];
mixing in-batch with uniformly random negatives follows Yang et al. ["Mixed
Negative Sampling for Learning Two-tower Neural Networks in Recommendations",
WWW 2020] as used by ItemSage (https://arxiv.org/abs/2205.11728) and OmniSage.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrep.errors import ConfigError, ShapeError
from graphrep.utils.collectives import GatherGroup, current_group

_MODES = ("in_batch", "random", "mixed")
_COMPLEX = (torch.complex64, torch.complex128)


def _float(x: object, name: str, shape: tuple[int, ...] | None = None) -> Tensor:
    if not isinstance(x, Tensor) or not x.dtype.is_floating_point:
        got = x.dtype if isinstance(x, Tensor) else type(x).__name__
        raise ShapeError(f"SampledSoftmax: {name} must be a floating tensor, got {got}")
    if shape is not None and tuple(x.shape) != shape:
        raise ShapeError(f"SampledSoftmax: {name} must have shape {shape}, got {tuple(x.shape)}")
    return x


def _pool(
    group: GatherGroup | None, local: dict[str, Tensor | None]
) -> tuple[dict[str, Any], int]:
    """Every rank's tensors of ``local`` concatenated (rank order; ``None`` stays ``None``)
    and this rank's row offset in the first one, in one exchange."""
    if group is None:
        return local, 0
    keys = [k for k, v in local.items() if v is not None]
    parts = group.gather([local[k] for k in keys])  # [W][len(keys)]
    out: dict[str, Any] = dict.fromkeys(local)
    for i, k in enumerate(keys):
        out[k] = torch.cat([p[i] for p in parts])
    return out, sum(int(p[0].shape[0]) for p in parts[: group.rank])


def _ids(x: object, name: str, shape: tuple[int, ...]) -> Tensor:
    if not isinstance(x, Tensor) or x.dtype.is_floating_point or x.dtype in (torch.bool, *_COMPLEX):
        got = x.dtype if isinstance(x, Tensor) else type(x).__name__
        raise ShapeError(f"SampledSoftmax: {name} must be an integer (torch.long) tensor, got {got}")
    if tuple(x.shape) != shape:
        raise ShapeError(f"SampledSoftmax: {name} must have shape {shape}, got {tuple(x.shape)}")
    return x.long()


class SampledSoftmax(nn.Module):
    """Softmax cross-entropy of each query over its positive and sampled negatives.

    For query :math:`q_b`, positive :math:`p_b` and candidates :math:`c`
    (the positive first), the corrected logits and the loss are

    .. math::
        s_{bc} = \\frac{q_b \\cdot c}{\\tau} - \\log Q(c), \\qquad
        \\mathcal{L} = -\\frac{1}{B} \\sum_b
        \\log \\frac{e^{s_{b p_b}}}{e^{s_{b p_b}} + \\sum_{c \\in \\mathcal{N}_b} e^{s_{bc}}},

    with a learned temperature :math:`\\tau = \\exp(\\theta)` clamped to
    ``[min_temperature, max_temperature]``. Candidate sets by ``negatives``:

    * ``"in_batch"``: the other rows' positives, :math:`\\mathcal{N}_b = \\{p_j\\}_{j \\ne b}`
      (logits ``[B, B]``, the positive on the diagonal);
    * ``"random"``: the ``random_negatives`` (shared ``[N, D]`` or per row
      ``[B, K, D]``), logits ``[B, 1 + N]``;
    * ``"mixed"``: both, logits ``[B, B + N]``.

    **logQ.** With ``logq=True`` *every* candidate, the positive included, is
    corrected by the log of its expected count among the candidates (Yi et al.,
    eq. 3; also TensorFlow's sampled softmax). Callers give log probabilities *per
    draw*; the module adds the log number of draws of each group: in-batch
    candidates and the positive get ``log_q_positive + log B`` (the item's frequency
    in the stream of batch positives, e.g. from
    :class:`~graphrep.models.sketch.SketchLogQ`, with :math:`B` all ranks' rows when
    pooled), random negatives ``log_q_random + log N`` (their sampler's probability;
    :math:`N` shared draws, or :math:`K` per row). In ``"random"`` mode the positive
    gets ``log_q_positive + log N``, so it should hold its probability under the
    *random* sampler. Offsets shared by all candidates of a row cancel.

    **Pooled over ranks.** Inside :func:`~graphrep.utils.collectives.pooled_negatives`
    (the trainer under ``torchrun``, or virtual ranks), the in-batch candidates and
    the shared random negatives of every rank of the group are gathered
    (differentiably) and every rank's rows are scored against all of them, as
    PinnerFormer (https://arxiv.org/abs/2205.04507) does across GPUs. The ``"mean"``
    loss is then :math:`W \\cdot \\sum_{\text{own rows}} \\ell_b / B_{\text{global}}`,
    so the ranks' mean (what DDP's gradient averaging optimises) is the mean over all
    ranks' rows, even when ranks hold different numbers of rows.

    **Masking** (logit :math:`\\to -\\infty`; the positive itself is never masked):

    * ``remove_accidental_hits``: negatives with the row's positive id are not
      negatives; ids in the row's ``exclude_ids`` (e.g. the query item itself,
      other known positives) are masked whenever given;
    * ``remove_duplicates``: an item occurring several times among the in-batch
      candidates counts once (later copies are masked for every row); random
      negatives, drawn with replacement, keep their repeats. The one remaining
      column then stands for all copies; its :math:`\\log Q` is still the caller's
      (for per-draw probability :math:`p \\ll 1/B`, :math:`\\log(Bp)` is close to
      the log probability that the item is in the batch at all).

    Embeddings are used as given (the encoders L2-normalise them).

    Args:
        init_temperature: initial :math:`\\tau` (0.07 as in CLIP / ItemSage).
        min_temperature: lower clamp of :math:`\\tau`.
        max_temperature: upper clamp of :math:`\\tau`.
        negatives: ``"in_batch"``, ``"random"`` or ``"mixed"``.
        logq: apply the logQ correction (then the ``log_q_*`` inputs are required).
        remove_accidental_hits: mask negatives equal to the row's positive.
        remove_duplicates: count each in-batch item once.
        learn_temperature: learn :math:`\\tau` (else a fixed buffer).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (per-row losses ``[B]``).
    """

    def __init__(
        self,
        init_temperature: float = 0.07,
        min_temperature: float = 0.01,
        max_temperature: float = 1.0,
        negatives: str = "mixed",
        logq: bool = True,
        remove_accidental_hits: bool = True,
        remove_duplicates: bool = True,
        learn_temperature: bool = True,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        temps = (init_temperature, min_temperature, max_temperature)
        if any(isinstance(t, bool) or not isinstance(t, int | float) for t in temps) or not (
            0 < min_temperature <= init_temperature <= max_temperature < math.inf
        ):
            raise ConfigError(
                "SampledSoftmax: temperatures must satisfy 0 < min_temperature <= "
                f"init_temperature <= max_temperature < inf, got {temps}"
            )
        if negatives not in _MODES:
            raise ConfigError(
                f"SampledSoftmax: negatives must be one of {_MODES}, got {negatives!r}"
            )
        if reduction not in ("mean", "sum", "none"):
            raise ConfigError(
                f"SampledSoftmax: reduction must be 'mean', 'sum' or 'none', got {reduction!r}"
            )
        self.init_temperature = float(init_temperature)
        self.min_temperature = float(min_temperature)
        self.max_temperature = float(max_temperature)
        self.negatives = negatives
        self.logq = bool(logq)
        self.remove_accidental_hits = bool(remove_accidental_hits)
        self.remove_duplicates = bool(remove_duplicates)
        self.reduction = reduction
        log_t = torch.tensor(math.log(self.init_temperature))
        if learn_temperature:
            self.log_temperature = nn.Parameter(log_t)
        else:
            self.register_buffer("log_temperature", log_t)

    def reset_parameters(self) -> None:
        """Set :math:`\\tau` back to ``init_temperature``."""
        with torch.no_grad():
            self.log_temperature.fill_(math.log(self.init_temperature))

    @property
    def temperature(self) -> float:
        """The current (clamped) temperature :math:`\\tau`."""
        t = math.exp(float(self.log_temperature.detach()))
        return min(max(t, self.min_temperature), self.max_temperature)

    def _tau(self) -> Tensor:
        # Clamp the parameter itself (CLIP-style, no host sync): after an optimizer step pushes
        # it out of range it sits on the bound and can move back. exp() saves only its output,
        # so the in-place clamp never invalidates a graph built by an earlier forward.
        with torch.no_grad():
            self.log_temperature.clamp_(
                math.log(self.min_temperature), math.log(self.max_temperature)
            )
        return self.log_temperature.exp()

    def forward(
        self,
        query: Tensor,
        positive: Tensor,
        positive_ids: Tensor | None = None,
        random_negatives: Tensor | None = None,
        random_negative_ids: Tensor | None = None,
        log_q_positive: Tensor | None = None,
        log_q_random: Tensor | None = None,
        exclude_ids: Tensor | None = None,
    ) -> Tensor:
        """Loss of queries ``[B, D]`` against positives ``[B, D]`` and negatives.

        Args:
            query: ``[B, D]`` query embeddings.
            positive: ``[B, D]`` positive embeddings (row ``b`` is ``query[b]``'s positive).
            positive_ids: ``[B]`` item ids of the positives (needed for masking).
            random_negatives: ``[N, D]`` shared or ``[B, K, D]`` per-row negatives.
            random_negative_ids: ids of the random negatives, ``[N]`` or ``[B, K]``.
            log_q_positive: ``[B]`` log probability per draw of each positive (class doc).
            log_q_random: log probability per draw of the random negatives (shape of their ids).
            exclude_ids: ``[B, P]`` further ids that are not negatives for row ``b``
                (pad with ``-1``).

        Returns:
            The loss (scalar, or ``[B]`` with ``reduction="none"``).
        """
        query = _float(query, "query")
        if query.dim() != 2:
            raise ShapeError(f"SampledSoftmax: query must be [B, D], got {tuple(query.shape)}")
        b, d = query.shape
        positive = _float(positive, "positive", (b, d))
        in_batch = self.negatives != "random"
        use_random = self.negatives != "in_batch"
        mask_needed = (
            self.remove_accidental_hits
            or (self.remove_duplicates and in_batch)
            or exclude_ids is not None
        )
        if positive_ids is not None:
            positive_ids = _ids(positive_ids, "positive_ids", (b,))
        elif mask_needed:
            raise ConfigError(
                "SampledSoftmax: positive_ids are required to mask accidental hits, duplicates "
                "or exclude_ids; pass them or set remove_accidental_hits=False and "
                "remove_duplicates=False"
            )
        if exclude_ids is not None:
            if not isinstance(exclude_ids, Tensor) or exclude_ids.dim() != 2:
                got = tuple(exclude_ids.shape) if isinstance(exclude_ids, Tensor) else exclude_ids
                raise ShapeError(f"SampledSoftmax: exclude_ids must be a [B, P] tensor, got {got}")
            exclude_ids = _ids(exclude_ids, "exclude_ids", (b, exclude_ids.shape[1]))
        if self.logq:
            if log_q_positive is None:
                raise ConfigError("SampledSoftmax: logq=True needs log_q_positive [B]")
            log_q_positive = _float(log_q_positive, "log_q_positive", (b,)).float()
        if random_negatives is not None and not use_random:
            raise ConfigError(
                "SampledSoftmax: negatives='in_batch' takes no random_negatives; "
                "use negatives='mixed' or 'random'"
            )
        tau = self._tau()
        q = query.float()
        rand: dict[str, Any] = {}
        if use_random:
            rand = self._check_random(
                random_negatives, random_negative_ids, log_q_random, exclude_ids, b, d
            )
        # the candidates every rank contributes, gathered in one exchange ("positive" first:
        # its rows give this rank's offset; a [b, 0] slice just counts the rows)
        local = {
            "positive": positive if in_batch else q[:, :0],
            "ids": positive_ids if in_batch else None,
            "log_q": log_q_positive if in_batch and self.logq else None,
        }
        if rand.get("shared"):
            local.update(negs=rand["negs"], neg_ids=rand["ids"], neg_log_q=rand["log_q"])
        group = current_group()
        pooled, offset = _pool(group, local)
        if rand.get("shared"):
            rand.update(negs=pooled["negs"], ids=pooled["neg_ids"], log_q=pooled["neg_log_q"])
        rows_total = int(pooled["positive"].shape[0])
        logits, masks = [], []
        if use_random:
            s_rand, m_rand, n_rand = self._random(q, tau, positive_ids, exclude_ids, **rand)
        if in_batch:
            s = q @ pooled["positive"].float().T / tau  # [b, B_global]; row i's is column offset + i
            if self.logq:
                s = s - (pooled["log_q"] + math.log(max(rows_total, 1)))[None, :]
            logits.append(s)
            shape = (b, rows_total)
            masks.append(
                self._in_batch_mask(
                    positive_ids, pooled["ids"], exclude_ids, offset, shape, query.device
                )
            )
            target = offset + torch.arange(b, device=query.device)
        else:
            s = (q * positive.float()).sum(-1, keepdim=True) / tau
            if self.logq:
                s = s - (log_q_positive + math.log(max(n_rand, 1)))[:, None]
            logits.append(s)
            masks.append(torch.zeros(b, 1, dtype=torch.bool, device=query.device))
            target = query.new_zeros(b, dtype=torch.long)
        if use_random:
            logits.append(s_rand)
            masks.append(m_rand)
        logits_all = torch.cat(logits, dim=1).masked_fill(torch.cat(masks, dim=1), -math.inf)
        rows = F.cross_entropy(logits_all, target, reduction="none")
        if self.reduction == "none":
            return rows
        # DDP averages the ranks' gradients: scale by W so that the mean over ranks is the
        # loss of all ranks' rows together (also when ranks hold different numbers of rows)
        scale = 1 if group is None else group.world_size
        if self.reduction == "sum":
            return rows.sum() * scale
        return rows.sum() * (scale / max(rows_total, 1))

    def _in_batch_mask(
        self, ids: Tensor | None, col_ids: Tensor | None, exclude: Tensor | None,
        offset: int, shape: tuple[int, int], device: torch.device,
    ) -> Tensor:  # fmt: skip
        """``[b, B_global]`` True where column ``j`` is not a negative of row ``i`` (row
        ``i``'s positive is column ``offset + i``)."""
        mask = torch.zeros(shape, dtype=torch.bool, device=device)
        if ids is None or col_ids is None:
            return mask
        b = shape[0]
        if self.remove_accidental_hits:
            mask |= ids[:, None] == col_ids[None, :]
        if self.remove_duplicates:  # column j repeats an earlier column k < j
            same = col_ids[:, None] == col_ids[None, :]
            mask |= torch.triu(same, diagonal=1).any(dim=0)[None, :]
        if exclude is not None:
            mask |= (col_ids[None, :, None] == exclude[:, None, :]).any(-1)
        rows = torch.arange(b, device=device)
        mask[rows, offset + rows] = False
        return mask

    def _check_random(
        self, negs: Tensor | None, neg_ids: Tensor | None, log_q: Tensor | None,
        exclude: Tensor | None, b: int, d: int,
    ) -> dict[str, Any]:  # fmt: skip
        """The validated random negatives: ``negs``, ``ids`` (None when no mask needs
        them), ``log_q`` (None without logQ) and whether they are ``shared`` ``[N, D]``."""
        if negs is None:
            raise ConfigError(
                f"SampledSoftmax: negatives={self.negatives!r} needs random_negatives "
                "([N, D] shared or [B, K, D] per row)"
            )
        negs = _float(negs, "random_negatives")
        shared = negs.dim() == 2 and negs.shape[1] == d
        if not shared and not (negs.dim() == 3 and negs.shape[0] == b and negs.shape[2] == d):
            raise ShapeError(
                f"SampledSoftmax: random_negatives must be [N, {d}] or [{b}, K, {d}], "
                f"got {tuple(negs.shape)}"
            )
        id_shape = tuple(negs.shape[:-1])
        if self.logq and log_q is None:
            raise ConfigError("SampledSoftmax: logq=True needs log_q_random for random_negatives")
        need_ids = self.remove_accidental_hits or exclude is not None
        if need_ids and neg_ids is None:
            raise ConfigError(
                "SampledSoftmax: random_negative_ids are required to mask "
                "accidental hits; pass them or set remove_accidental_hits=False"
            )
        return {
            "negs": negs,
            "ids": _ids(neg_ids, "random_negative_ids", id_shape) if need_ids else None,
            "log_q": _float(log_q, "log_q_random", id_shape).float() if self.logq else None,
            "shared": shared,
        }

    def _random(
        self, q: Tensor, tau: Tensor, positive_ids: Tensor | None, exclude: Tensor | None,
        negs: Tensor, ids: Tensor | None, log_q: Tensor | None, shared: bool,
    ) -> tuple[Tensor, Tensor, int]:  # fmt: skip
        """Logits ``[B, N]`` of the random negatives (pooled over ranks when shared), their
        mask and the number of draws."""
        b = q.shape[0]
        if shared:
            s = q @ negs.float().T
        else:
            s = torch.einsum("bd,bkd->bk", q, negs.float())
        draws = int(negs.shape[-2])
        s = s / tau
        if log_q is not None:
            s = s - (log_q + math.log(max(draws, 1)))
        mask = torch.zeros_like(s, dtype=torch.bool)
        if ids is not None:
            ids = ids.expand(b, -1) if ids.dim() == 1 else ids  # [B, N]
            if self.remove_accidental_hits:
                mask |= ids == positive_ids[:, None]
            if exclude is not None:
                mask |= (ids[:, :, None] == exclude[:, None, :]).any(-1)
        return s, mask, draws

    def extra_repr(self) -> str:
        return (
            f"negatives={self.negatives!r}, logq={self.logq}, temperature={self.temperature:.4g}, "
            f"clamp=[{self.min_temperature}, {self.max_temperature}], "
            f"remove_accidental_hits={self.remove_accidental_hits}, "
            f"remove_duplicates={self.remove_duplicates}"
        )
