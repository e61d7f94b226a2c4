"""Batched inference: every node of every encoded type, and every user from their sequence.

The entity encoders are one aggregation layer over *raw* neighbor features
(DESIGN.md, "Training, inference, export"), so a node's embedding needs only its
own features and one sampled importance neighborhood -- no recursion -- and
nodes are embedded independently in batches of ``batch_size``. Neighborhoods are
sampled at a fixed inference step (:data:`INFERENCE_STEP`), so an export is
reproducible. Users are embedded from their last ``max_len`` actions before the
cut with the sequence encoder (PinnerFormer); a model trained without it embeds a
user as the normalised mean of their history items' embeddings. Users without
any history get a zero vector (they score 0 against everything).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from graphrep.errors import ConfigError
from graphrep.graph.eventlog import EventLog
from graphrep.models import OmniSage
from graphrep.samplers.neighborhood import Neighborhood
from graphrep.samplers.sequences import SequenceHistory, SequenceSampler
from graphrep.tasks import InputBuilder

INFERENCE_STEP = 2**40  #: The sampling step of every export, one that no training run reaches.


def _chunks(n: int, batch_size: int, rows: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    start, stop = (0, n) if rows is None else rows
    for lo in range(start, stop, batch_size):
        yield np.arange(lo, min(stop, lo + batch_size), dtype=np.int64)


@torch.no_grad()
def embed_ids(
    model: OmniSage, builder: InputBuilder, node_type: str, ids: np.ndarray, batch_size: int = 1024
) -> np.ndarray:
    """``[len(ids), D]`` float32 embeddings of the nodes ``ids`` of ``node_type``."""
    model.eval()
    device = next(model.parameters()).device
    ids = np.asarray(ids, dtype=np.int64)
    out = np.zeros((len(ids), model.dim), dtype=np.float32)
    for lo in range(0, len(ids), batch_size):
        inputs = builder.build(node_type, ids[lo : lo + batch_size], step=INFERENCE_STEP).to(device)
        out[lo : lo + batch_size] = model.embed(node_type, inputs).float().cpu().numpy()
    return out


def neighborhood_rows(
    neighbors: Mapping[str, tuple[Any, Any, Any]],
) -> dict[str, np.ndarray]:
    """Per-row arrays of sampled neighbourhoods (``{type: (ids, weights, mask)}``, ids as a
    tensor or a ``FeatureBatch``): ``nbr.<type>.ids`` ``int64 [b, k]`` (``-1`` on padding)
    and ``nbr.<type>.weights`` ``float32 [b, k]``, as an export stores them."""
    out = {}
    for t, (ids, w, m) in neighbors.items():
        ids = getattr(ids, "ids", ids)
        m = np.asarray(m, dtype=bool)
        out[f"nbr.{t}.ids"] = np.where(m, np.asarray(ids, dtype=np.int64), -1)
        out[f"nbr.{t}.weights"] = np.where(m, np.asarray(w, dtype=np.float32), np.float32(0))
    return out


@torch.no_grad()
def encode_nodes(
    model: OmniSage, builder: InputBuilder, node_type: str, ids: np.ndarray, batch_size: int = 1024,
    neighborhood: Neighborhood | None = None,
) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Yield ``([b, D] float32 vectors, neighbourhood rows)`` of the nodes ``ids`` in chunks
    (see :func:`neighborhood_rows`); ``neighborhood`` (a row per id, sampled at
    :data:`INFERENCE_STEP` by ``builder``'s sampler) spares sampling them again."""
    model.eval()
    device = next(model.parameters()).device
    ids = np.asarray(ids, dtype=np.int64)
    for lo in range(0, len(ids), batch_size):
        rows = np.arange(lo, min(lo + batch_size, len(ids)))
        part = None if neighborhood is None else neighborhood.take(rows)
        inputs = builder.build(node_type, ids[lo : lo + batch_size], step=INFERENCE_STEP, neighborhood=part)
        z = model.embed(node_type, inputs.to(device)).float().cpu().numpy()
        nbr = neighborhood_rows(inputs.neighbors)
        if inputs.inverse is not None:
            inv = inputs.inverse.numpy()
            nbr = {k: v[inv] for k, v in nbr.items()}
        yield z, nbr


def embed_nodes(
    model: OmniSage, builder: InputBuilder, node_type: str, batch_size: int = 1024,
    rows: tuple[int, int] | None = None,
) -> Iterator[np.ndarray]:
    """Yield ``[b, D]`` float32 chunks of the embeddings of ``node_type`` nodes in id order
    (all of them, or the ids in ``rows = (start, stop)``: a rank's shard)."""
    for ids in _chunks(builder.graph.num_nodes[node_type], batch_size, rows):
        yield next(encode_nodes(model, builder, node_type, ids, len(ids) or 1))[0]


@torch.no_grad()
def embed_users(
    model: OmniSage,
    builder: InputBuilder,
    events: EventLog,
    cut_time: int,
    max_len: int,
    batch_size: int = 1024,
    rows: tuple[int, int] | None = None,
    item_vectors: Mapping[str, np.ndarray] | None = None,
) -> Iterator[np.ndarray]:
    """Yield ``[b, D]`` float32 chunks of every user's embedding at ``cut_time`` in id order
    (or of the users ``rows = (start, stop)``).

    ``item_vectors`` (item type -> ``[num_nodes, D]`` float32, e.g. memory-mapped) holds
    the items' embeddings computed already by :func:`embed_nodes`; history items are then
    looked up rather than encoded again for every user batch. Without it each batch
    encodes its users' history items (same result, many times the work).
    """
    model.eval()
    device = next(model.parameters()).device
    sampler = SequenceSampler(events, max_len, cut_time, future_window=1)
    for users in _chunks(events.num_users, batch_size, rows):
        hist = sampler.eval_batch(users, cut_time, window=1)
        out = np.zeros((len(users), model.dim), dtype=np.float32)
        has = hist.mask.any(1).numpy()
        if has.any():
            if not has.all():  # embed only users with a history
                hist = sampler.eval_batch(users[has], cut_time, window=1)
            if item_vectors is not None:
                emb = _lookup_history(hist, events.item_types, item_vectors, model.dim)
            else:
                items = builder.build_items(
                    events.item_types,
                    {"history": (hist.item_type.numpy(), hist.items.numpy())},
                    step=INFERENCE_STEP,
                ).to(device)
                emb = model.item_table(items)[items.index["history"]]
            z = _users_from_history(model, hist.to(device), emb.to(device), cut_time)
            out[has] = z.float().cpu().numpy()
        yield out


def _lookup_history(
    hist: SequenceHistory, item_types: Sequence[str], vectors: Mapping[str, np.ndarray], dim: int
) -> torch.Tensor:
    """``[B, M, D]`` embeddings of the history items read from ``vectors`` (zeros at padding)."""
    codes, items, mask = hist.item_type.numpy(), hist.items.numpy(), hist.mask.numpy()
    emb = np.zeros((*codes.shape, dim), dtype=np.float32)
    for code, name in enumerate(item_types):
        sel = mask & (codes == code)
        if not sel.any():
            continue
        if name not in vectors:
            raise ConfigError(
                f"embed_users: history items of type {name!r} have no precomputed embeddings "
                f"(item_vectors holds {sorted(vectors)}); embed that type first or omit item_vectors"
            )
        emb[sel] = vectors[name][items[sel]]
    return torch.from_numpy(emb)


def _users_from_history(
    model: OmniSage, hist: SequenceHistory, emb: torch.Tensor, cut_time: int
) -> torch.Tensor:
    if model.sequence is not None:
        return model.users_from_history(hist, emb, query_time=cut_time)
    mask = hist.mask.unsqueeze(-1).to(emb.dtype)
    mean = (emb * mask).sum(1) / mask.sum(1).clamp_min(1.0)
    return F.normalize(mean, dim=-1)
