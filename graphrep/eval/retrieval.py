r"""Retrieval metrics: recall@k, hits@k, NDCG@k and MRR, exact or against sampled negatives.

Queries :math:`\mathbf{q}_i` are scored against every corpus item :math:`\mathbf{c}_j`
by the dot product :math:`s_{ij} = \mathbf{q}_i \cdot \mathbf{c}_j` (callers
L2-normalise for cosine). For query :math:`i` with relevant set :math:`R_i` and
1-based positions :math:`\mathrm{pos}(r)` of its relevant items in the ranking,

.. math::
    \mathrm{recall@}k = \frac{|\{r \in R_i : \mathrm{pos}(r) \le k\}|}{|R_i|}, \qquad
    \mathrm{hits@}k = \mathbb{1}[\exists r \in R_i : \mathrm{pos}(r) \le k],

.. math::
    \mathrm{NDCG@}k = \frac{\sum_{r : \mathrm{pos}(r) \le k} 1 / \log_2(1 + \mathrm{pos}(r))}
        {\sum_{i=1}^{\min(|R_i|, k)} 1 / \log_2(1 + i)}, \qquad
    \mathrm{MRR} = \frac{1}{\min_{r \in R_i} \mathrm{pos}(r)}.

**Ties are broken pessimistically**: among equal scores, every non-relevant item
ranks before every relevant one, so the ranking never depends on the order of
the corpus or on the ``topk`` kernel. The position of relevant item :math:`r`,
the :math:`m`-th (0-based) of :math:`R_i` by decreasing score, is
:math:`\mathrm{pos}(r) = 1 + |\{j \notin R_i : s_{ij} \ge s_{ir}\}| + m`;
the MRR rank is that of the best-scored relevant item.

:func:`full_rank_metrics` ranks against the whole corpus with chunked matmuls
(``[chunk, N]`` scores at a time) and ``topk``. :func:`sampled_metrics` is the
protocol of PinSage (`arXiv:1806.01973 <https://arxiv.org/abs/1806.01973>`_) and
PinnerFormer (`arXiv:2205.04507 <https://arxiv.org/abs/2205.04507>`_): each
positive is ranked among a few uniformly random corpus items.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from graphrep.errors import GraphValidationError, ShapeError
from graphrep.graph.ragged import Ragged
from graphrep.graph.validate import check_node_ids

_BLOCK_SCORES = 1 << 22  # scores per block when a block size is ours to choose
_BLOCK_GATHER = 1 << 16  # gathered candidate vectors per block in sampled_metrics


def as_embeddings(x: object, name: str) -> Tensor:
    """Return ``x`` (numpy array or tensor ``[n, D]``) as a finite float tensor.

    ``float64`` input stays ``float64``; every other floating dtype becomes ``float32``.

    Raises:
        ShapeError: ``x`` is not a 2-D floating array.
        GraphValidationError: ``x`` holds NaN or infinite values.
    """
    t = x.detach() if isinstance(x, Tensor) else None
    if t is None:
        arr = np.asarray(x)
        if not np.issubdtype(arr.dtype, np.floating):
            raise ShapeError(f"{name}: expected floating embeddings, got dtype {arr.dtype}")
        if not arr.flags.writeable:  # e.g. a read-only memory map: torch needs a copy
            arr = np.array(arr)
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if not t.dtype.is_floating_point:
        raise ShapeError(f"{name}: expected floating embeddings, got dtype {t.dtype}")
    if t.ndim != 2:
        raise ShapeError(f"{name}: expected a 2-D array [n, D], got shape {tuple(t.shape)}")
    if t.dtype != torch.float64:
        t = t.float()
    if not bool(torch.isfinite(t).all()):
        bad = int(torch.nonzero(~torch.isfinite(t))[0, 0])
        raise GraphValidationError(f"{name}: row {bad} holds NaN or infinite values")
    return t


def embedding_pair(queries: object, corpus: object) -> tuple[Tensor, Tensor]:
    """Check ``queries [Q, D]`` and ``corpus [N, D]``; return them with a common dtype."""
    q, c = as_embeddings(queries, "queries"), as_embeddings(corpus, "corpus")
    if q.shape[1] != c.shape[1]:
        raise ShapeError(
            f"queries has dimension {q.shape[1]} but corpus has {c.shape[1]}; they must match"
        )
    if c.shape[0] == 0:
        raise ShapeError("corpus: expected at least one item, got 0 rows")
    dtype = torch.promote_types(q.dtype, c.dtype)
    return q.to(dtype), c.to(dtype)


def check_positive_int(value: object, name: str) -> int:
    """Return ``value`` as an ``int`` after checking it is an integer ``>= 1``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise GraphValidationError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


SCORE_BUDGET = 2**25  #: Score-matrix elements per chunk (128 MiB of float32).


def score_chunk_rows(chunk_size: object, num_corpus: int) -> int:
    """Queries scored per matmul: ``chunk_size``, capped so that one ``[rows, N]`` score
    matrix stays within :data:`SCORE_BUDGET` elements (at least one row). With a 2M-item
    corpus, 1024 query rows would be an 8 GB score matrix."""
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    return max(1, min(chunk_size, SCORE_BUDGET // max(int(num_corpus), 1)))


def _check_ks(ks: Sequence[int]) -> list[int]:
    if isinstance(ks, (int, np.integer)):
        ks = (ks,)
    out = sorted({check_positive_int(k, "ks entry") for k in ks})
    if not out:
        raise GraphValidationError("ks must hold at least one cutoff k >= 1, got none")
    return out


def _device(device: object, like: Tensor) -> torch.device:
    return torch.device(device) if device is not None else like.device


def group_pairs(
    query_rows: np.ndarray, items: np.ndarray, num_queries: int | None = None
) -> tuple[np.ndarray, Ragged]:
    """Group ``(query, item)`` pairs into distinct queries and their distinct relevant items.

    Args:
        query_rows: ``[P]`` integer query ids.
        items: ``[P]`` integer corpus ids.
        num_queries: if given, query ids must lie in ``[0, num_queries)``.

    Returns:
        ``(queries, relevant)``: the sorted distinct query ids ``[U]`` and a
        :class:`Ragged` whose row ``u`` holds the sorted distinct items paired with
        ``queries[u]`` (``int64``).
    """
    query_rows, items = np.asarray(query_rows), np.asarray(items)
    if query_rows.shape != items.shape or query_rows.ndim != 1:
        raise ShapeError(
            f"query_rows and items must be 1-D of equal length, got shapes "
            f"{query_rows.shape} and {items.shape}"
        )
    bound = np.iinfo(np.int64).max if num_queries is None else num_queries
    query_rows = check_node_ids(query_rows, bound, "group_pairs: query_rows")
    items = check_node_ids(items, np.iinfo(np.int64).max, "group_pairs: items")
    pairs = np.unique(np.stack([query_rows, items], axis=1), axis=0)
    queries, counts = np.unique(pairs[:, 0], return_counts=True)
    return queries, Ragged.from_lengths(counts, pairs[:, 1].copy())


def _ragged_keys(r: Ragged, num_queries: int, num_items: int, name: str) -> np.ndarray:
    """Sorted distinct keys ``row * num_items + item`` of a Ragged ``[Q]`` of corpus ids."""
    if not isinstance(r, Ragged):
        raise GraphValidationError(f"{name}: expected a Ragged, got {type(r).__name__}")
    if len(r) != num_queries:
        raise ShapeError(f"{name}: expected {num_queries} rows (one per query), got {len(r)}")
    items = check_node_ids(r.values, num_items, f"{name} values")
    rows = np.repeat(np.arange(num_queries, dtype=np.int64), r.lengths())
    return np.unique(rows * num_items + items)


def _row_offsets(rows: np.ndarray, n: int) -> np.ndarray:
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=offsets[1:])
    return offsets


def full_rank_per_query(
    queries: object,
    corpus: object,
    relevant: Ragged,
    ks: Sequence[int] = (10,),
    exclude: Ragged | None = None,
    chunk_size: int = 1024,
    device: object = None,
) -> dict[str, np.ndarray]:
    """Per-query metrics of exact ranking against the whole corpus (see the module doc).

    Args:
        queries: ``[Q, D]`` query embeddings (numpy or torch).
        corpus: ``[N, D]`` corpus embeddings.
        relevant: :class:`Ragged` with ``Q`` rows of relevant corpus ids (repeats ignored).
        ks: cutoffs for recall / hits / NDCG.
        exclude: optional :class:`Ragged` with ``Q`` rows of corpus ids removed from
            query ``q``'s ranking (score set to ``-inf``); an excluded relevant item
            is dropped from the relevant set.
        chunk_size: queries scored per matmul (peak memory a few ``chunk_size * N`` arrays;
            capped by :func:`score_chunk_rows`).
        device: torch device for the matmuls (default: the corpus tensor's device).

    Returns:
        Length-``Q`` arrays ``"recall@k"``, ``"hits@k"``, ``"ndcg@k"`` and ``"mrr"``
        (``float64``, NaN for queries without relevant items), ``"rank"`` (``int64``,
        1-based pessimistic rank of the best relevant item, 0 when none) and
        ``"num_relevant"`` (``int64``, after exclusion).
    """
    q, c = embedding_pair(queries, corpus)
    num_q, n = q.shape[0], c.shape[0]
    ks = _check_ks(ks)
    chunk_size = score_chunk_rows(chunk_size, n)
    keys = _ragged_keys(relevant, num_q, n, "relevant")
    ex_keys = np.zeros(0, dtype=np.int64)
    if exclude is not None:
        ex_keys = _ragged_keys(exclude, num_q, n, "exclude")
        keys = keys[~np.isin(keys, ex_keys, assume_unique=True)]
    rel_rows, rel_items = np.divmod(keys, n)
    ex_rows, ex_items = np.divmod(ex_keys, n)
    rel_off, ex_off = _row_offsets(rel_rows, num_q), _row_offsets(ex_rows, num_q)
    kt = min(ks[-1], n)

    dev = _device(device, c)
    c = c.to(dev)
    pos = np.zeros(len(keys), dtype=np.int64)  # 1-based pessimistic position (capped past kt)
    rank = np.zeros(num_q, dtype=np.int64)
    count_dtype = torch.int32 if n < 2**31 else torch.int64
    for start in range(0, num_q, chunk_size):
        stop = min(start + chunk_size, num_q)
        a, b = int(rel_off[start]), int(rel_off[stop])
        if a == b:
            continue
        s = q[start:stop].to(dev) @ c.T
        ea, eb = int(ex_off[start]), int(ex_off[stop])
        er = torch.from_numpy(ex_rows[ea:eb] - start).to(dev)
        s[er, torch.from_numpy(ex_items[ea:eb]).to(dev)] = -torch.inf
        lr = torch.from_numpy(rel_rows[a:b] - start).to(dev)
        li = torch.from_numpy(rel_items[a:b]).to(dev)
        rs = s[lr, li]
        s[lr, li] = -torch.inf  # s now holds the non-relevant, non-excluded items only
        # count of non-relevant items scoring >= each relevant one, capped at kt
        top = s.topk(kt, dim=1).values
        ahead = (top[lr] >= rs[:, None]).sum(1).cpu().numpy()
        # m: place of each relevant item among its query's relevant items by decreasing score
        order = np.lexsort((-rs.cpu().numpy(), rel_rows[a:b]))
        m = np.empty(b - a, dtype=np.int64)
        m[order] = np.arange(a, b) - rel_off[rel_rows[a:b][order]]
        pos[a:b] = 1 + ahead + m
        # MRR rank: exact from the top-kt values unless the best relevant item lies beyond them
        best = np.flatnonzero(m == 0)
        rank[rel_rows[a:b][best]] = pos[a:b][best]
        far = best[ahead[best] >= kt]
        if len(far):
            fr = lr[torch.from_numpy(far).to(dev)]
            count = (s[fr] >= rs[far][:, None]).sum(1, dtype=count_dtype)
            rank[rel_rows[a:b][far]] = 1 + count.cpu().numpy()

    num_rel = np.diff(rel_off)
    valid = num_rel > 0
    out: dict[str, np.ndarray] = {}
    discount = 1.0 / np.log2(np.arange(2, ks[-1] + 2, dtype=np.float64))
    ideal = np.concatenate([[0.0], np.cumsum(discount)])
    for k in ks:
        inside = pos <= k
        found = np.bincount(rel_rows, weights=inside, minlength=num_q)
        dcg = np.bincount(
            rel_rows, weights=np.where(inside, 1.0 / np.log2(pos + 1.0), 0.0), minlength=num_q
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"recall@{k}"] = np.where(valid, found / num_rel, np.nan)
            out[f"ndcg@{k}"] = np.where(valid, dcg / ideal[np.minimum(num_rel, k)], np.nan)
        out[f"hits@{k}"] = np.where(valid, (found > 0).astype(np.float64), np.nan)
    out["mrr"] = np.where(valid, 1.0 / np.maximum(rank, 1), np.nan)
    out["rank"] = np.where(valid, rank, 0)
    out["num_relevant"] = num_rel
    return out


def full_rank_metrics(
    queries: object,
    corpus: object,
    relevant: Ragged,
    ks: Sequence[int] = (10,),
    exclude: Ragged | None = None,
    chunk_size: int = 1024,
    device: object = None,
) -> dict[str, float]:
    """Means over queries with relevant items of :func:`full_rank_per_query`'s metrics.

    Returns:
        ``"recall@k"``, ``"hits@k"``, ``"ndcg@k"`` for each ``k``, ``"mrr"`` and
        ``"num_queries"`` (queries evaluated). Metrics are NaN when no query has a
        relevant item.
    """
    per = full_rank_per_query(queries, corpus, relevant, ks, exclude, chunk_size, device)
    valid = per["num_relevant"] > 0
    out: dict[str, float] = {}
    for key, values in per.items():
        if key in ("rank", "num_relevant"):
            continue
        out[key] = float(values[valid].mean()) if valid.any() else float("nan")
    out["num_queries"] = int(valid.sum())
    return out


def sampled_metrics(
    queries: object,
    corpus: object,
    query_rows: np.ndarray,
    positives: np.ndarray,
    num_negatives: int = 100,
    ks: Sequence[int] = (10,),
    seed: int = 0,
    exclude_positive: bool = True,
    device: object = None,
) -> dict[str, float]:
    """Hits@k and MRR of each positive ranked among ``num_negatives`` random corpus items.

    For pair ``p``, query ``queries[query_rows[p]]`` scores its positive
    ``positives[p]`` and ``num_negatives`` corpus items drawn uniformly with
    replacement (independently per pair); the rank is ``1 + #{negatives scoring >=
    the positive}`` (ties pessimistic). With ``exclude_positive`` negatives are
    drawn from the items other than the positive, and when ``num_negatives >= N - 1``
    the negatives are exactly all other items, i.e. the full ranking. Without it a
    draw may hit the positive itself, which then counts as a tie.

    Args:
        queries: ``[Q, D]`` query embeddings.
        corpus: ``[N, D]`` corpus embeddings.
        query_rows: ``[P]`` query row per pair.
        positives: ``[P]`` corpus id per pair.
        num_negatives: negatives per pair.
        ks: cutoffs for hits@k.
        seed: seed of the negative draws (results are deterministic under it).
        exclude_positive: never draw the pair's positive as a negative.
        device: torch device for the scoring (default: the corpus tensor's device).

    Returns:
        ``"hits@k"`` per cutoff, ``"mrr"`` and ``"num_pairs"``.
    """
    q, c = embedding_pair(queries, corpus)
    n = c.shape[0]
    ks = _check_ks(ks)
    num_negatives = check_positive_int(num_negatives, "num_negatives")
    query_rows = check_node_ids(query_rows, q.shape[0], "sampled_metrics: query_rows")
    positives = check_node_ids(positives, n, "sampled_metrics: positives")
    if len(query_rows) != len(positives):
        raise ShapeError(
            f"query_rows and positives must have equal length, got {len(query_rows)} "
            f"and {len(positives)}"
        )
    if exclude_positive and n < 2:
        raise GraphValidationError("sampled_metrics: exclude_positive needs a corpus of >= 2 items")
    dev = _device(device, c)
    c = c.to(dev)
    rng = np.random.default_rng(seed)
    num_p = len(positives)
    rank = np.empty(num_p, dtype=np.int64)
    everything = exclude_positive and num_negatives >= n - 1
    block = max(1, (_BLOCK_SCORES // n) if everything else (_BLOCK_GATHER // (num_negatives + 1)))
    for start in range(0, num_p, block):
        stop = min(start + block, num_p)
        qb = q[torch.from_numpy(query_rows[start:stop])].to(dev)
        pb = torch.from_numpy(positives[start:stop]).to(dev)
        if everything:
            s = qb @ c.T
            sp = s.gather(1, pb[:, None])
            rank[start:stop] = (s >= sp).sum(1).cpu().numpy()  # the positive counts itself: +1
            continue
        high = n - 1 if exclude_positive else n
        neg = rng.integers(0, high, size=(stop - start, num_negatives), dtype=np.int64)
        if exclude_positive:
            neg += neg >= positives[start:stop, None]
        cand = torch.cat([pb[:, None], torch.from_numpy(neg).to(dev)], dim=1)
        s = torch.bmm(c[cand], qb[:, :, None])[:, :, 0]
        rank[start:stop] = 1 + (s[:, 1:] >= s[:, :1]).sum(1).cpu().numpy()
    out: dict[str, float] = {}
    nan = float("nan")
    for k in ks:
        out[f"hits@{k}"] = float((rank <= k).mean()) if num_p else nan
    out["mrr"] = float((1.0 / rank).mean()) if num_p else nan
    out["num_pairs"] = num_p
    return out
