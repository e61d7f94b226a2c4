r"""Collapse and diversity detectors for embedding spaces (PinnerFormer-style).

A representation can score well on recall while retrieving the same popular
items for everyone, or while squeezing all vectors into a narrow cone. These
diagnostics, after PinnerFormer (Pancha et al., KDD'22,
`arXiv:2205.04507 <https://arxiv.org/abs/2205.04507>`_, section 5), catch that:

* :func:`p90_coverage`: retrieve the top-:math:`k` items of every query; with
  :math:`n_j` the number of retrieved slots held by item :math:`j` sorted
  decreasingly, the smallest :math:`m` with :math:`\sum_{j \le m} n_j \ge 0.9\,Qk`,
  divided by :math:`N`. Low values mean a few (popular) items dominate.
* :func:`interest_entropy`: mean over queries of the Shannon entropy (nats)
  :math:`H_i = -\sum_t p_{it} \log p_{it}` of the label distribution
  :math:`p_{it}` of query :math:`i`'s top-:math:`k` items. Low values mean each
  query's results cover few interests.
* :func:`cosine_kurtosis`: excess kurtosis :math:`\mu_4 / \mu_2^2 - 3` of the
  cosine similarity of random distinct pairs of rows. A healthy, spread-out
  space gives a near-Gaussian distribution of cosines (about 0); a heavy-tailed
  or sharply peaked distribution (large positive values) signals hubness or
  partial collapse, where most pairs sit at one similarity and a few outliers
  dominate.
* :func:`topic_purity`: mean fraction of each query's top-:math:`k` items
  sharing the query's label.

Top-:math:`k` lists come from :func:`chunked_topk`;
ties at the :math:`k`-th place are broken by ``torch.topk``.
"""

from __future__ import annotations

import numpy as np
import torch

from graphrep.errors import GraphValidationError, ShapeError
from graphrep.eval.retrieval import (
    as_embeddings,
    check_positive_int,
    embedding_pair,
    score_chunk_rows,
)
from graphrep.graph.validate import check_node_ids

_PAIR_BLOCK = 1 << 16


def chunked_topk(
    queries: object,
    corpus: object,
    k: int,
    chunk_size: int = 1024,
    exclude_self: bool = False,
    device: object = None,
    exclude_rows: np.ndarray | None = None,
) -> np.ndarray:
    """Indices ``[Q, min(k, N')]`` of each query's top-``k`` corpus items by dot product.

    Scores are computed ``chunk_size`` queries at a time (capped by
    :func:`~graphrep.eval.retrieval.score_chunk_rows`). Ties inside the top-``k``
    are broken by ``torch.topk`` (unspecified order). With ``exclude_self`` query
    ``i`` never retrieves corpus row ``i`` (``N' = N - 1``; needs ``Q == N``);
    ``exclude_rows[i]`` generalises it: the corpus row query ``i`` never retrieves
    (e.g. the query item itself when the queries are a sample of the corpus).
    """
    q, c = embedding_pair(queries, corpus)
    k = check_positive_int(k, "k")
    chunk_size = score_chunk_rows(chunk_size, c.shape[0])
    if exclude_self:
        if q.shape[0] != c.shape[0]:
            raise ShapeError(
                f"exclude_self needs queries row i to be corpus row i, but queries has "
                f"{q.shape[0]} rows and corpus {c.shape[0]}"
            )
        exclude_rows = np.arange(q.shape[0])
    if exclude_rows is not None:
        exclude_rows = check_node_ids(exclude_rows, c.shape[0], "exclude_rows")
        if len(exclude_rows) != q.shape[0]:
            raise ShapeError(
                f"exclude_rows: expected one corpus row per query ({q.shape[0]}), "
                f"got {len(exclude_rows)}"
            )
    dev = torch.device(device) if device is not None else c.device
    c = c.to(dev)
    kt = min(k, c.shape[0] - int(exclude_rows is not None))
    out = np.empty((q.shape[0], max(kt, 0)), dtype=np.int64)
    for start in range(0, q.shape[0], chunk_size):
        s = q[start : start + chunk_size].to(dev) @ c.T
        if exclude_rows is not None:
            rows = torch.arange(s.shape[0], device=dev)
            cols = torch.from_numpy(exclude_rows[start : start + s.shape[0]]).to(dev)
            s[rows, cols] = -torch.inf
        out[start : start + s.shape[0]] = s.topk(kt, dim=1).indices.cpu().numpy()
    return out


def _labels(labels: object, n: int, name: str) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1 or len(arr) != n:
        raise ShapeError(f"{name}: expected a 1-D array of {n} labels, got shape {arr.shape}")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise GraphValidationError(f"{name}: expected integer labels, got dtype {arr.dtype}")
    if n and arr.min() < 0:
        raise GraphValidationError(f"{name}: labels must be >= 0, got {int(arr.min())}")
    return arr.astype(np.int64, copy=False)


def p90_coverage(queries: object, corpus: object, k: int = 10, chunk_size: int = 1024) -> float:
    """PinnerFormer's P90 coverage@k: share of the corpus holding 90% of retrieved slots.

    Args:
        queries: ``[Q, D]`` query embeddings (numpy or torch).
        corpus: ``[N, D]`` corpus embeddings.
        k: items retrieved per query (``min(k, N)``).
        chunk_size: queries scored per matmul.

    Returns:
        ``m / N`` in ``(0, 1]``, ``m`` the fewest distinct items covering at least 90%
        of the ``Q * k`` retrieved slots (most-retrieved first).
    """
    top = chunked_topk(queries, corpus, k, chunk_size)
    n = int(as_embeddings(corpus, "corpus").shape[0])
    if top.shape[0] == 0:
        raise ShapeError("queries: expected at least one query, got 0 rows")
    counts = np.sort(np.bincount(top.ravel(), minlength=n))[::-1]
    covered = np.cumsum(counts)
    m = int(np.searchsorted(10 * covered, 9 * top.size, side="left")) + 1  # exact integer 90%
    return m / n


def interest_entropy(
    queries: object,
    corpus: object,
    item_labels: np.ndarray,
    k: int = 50,
    chunk_size: int = 1024,
) -> float:
    """Mean Shannon entropy (nats) of the label distribution of each query's top-``k``.

    Args:
        queries: ``[Q, D]`` query embeddings.
        corpus: ``[N, D]`` corpus embeddings.
        item_labels: ``[N]`` non-negative integer label (e.g. topic) per corpus item.
        k: items retrieved per query (``min(k, N)``).
        chunk_size: queries scored per matmul.
    """
    n = int(as_embeddings(corpus, "corpus").shape[0])
    item_labels = _labels(item_labels, n, "item_labels")
    top = chunked_topk(queries, corpus, k, chunk_size)
    num_q, kk = top.shape
    if num_q == 0:
        raise ShapeError("queries: expected at least one query, got 0 rows")
    lab = np.sort(item_labels[top], axis=1).ravel()
    row = np.repeat(np.arange(num_q), kk)
    # runs of equal labels within a row: their lengths are the label counts
    new_run = np.ones(lab.size, dtype=bool)
    new_run[1:] = (lab[1:] != lab[:-1]) | (row[1:] != row[:-1])
    starts = np.flatnonzero(new_run)
    counts = np.diff(np.append(starts, lab.size))
    p = counts / kk
    entropy = np.bincount(row[starts], weights=-p * np.log(p), minlength=num_q)
    return float(entropy.mean())


def random_pairs(num_rows: int, num_pairs: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``num_pairs`` uniformly random ordered pairs ``(i, j)`` of distinct rows, seeded."""
    if num_rows < 2:
        raise ShapeError(f"x: need at least 2 rows to form pairs, got {num_rows}")
    num_pairs = check_positive_int(num_pairs, "num_pairs")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, num_rows, size=num_pairs, dtype=np.int64)
    j = rng.integers(0, num_rows - 1, size=num_pairs, dtype=np.int64)
    j += j >= i
    return i, j


def random_pair_cosines(x: object, num_pairs: int = 100_000, seed: int = 0) -> np.ndarray:
    """Cosine similarities of :func:`random_pairs` ``(x.shape[0], num_pairs, seed)`` rows.

    Raises:
        GraphValidationError: a row has zero norm or non-finite values.
    """
    t = as_embeddings(x, "x").double()
    norms = t.norm(dim=1)
    if bool((norms == 0).any()):
        bad = int(torch.nonzero(norms == 0)[0, 0])
        raise GraphValidationError(f"x: row {bad} has zero norm; cosine is undefined")
    t = t / norms[:, None]
    i, j = random_pairs(t.shape[0], num_pairs, seed)
    cos = np.empty(len(i), dtype=np.float64)
    for start in range(0, len(i), _PAIR_BLOCK):
        bi = torch.from_numpy(i[start : start + _PAIR_BLOCK])
        bj = torch.from_numpy(j[start : start + _PAIR_BLOCK])
        cos[start : start + len(bi)] = (t[bi] * t[bj]).sum(1).numpy()
    return cos


def random_pair_cosine(x: object, num_pairs: int = 100_000, seed: int = 0) -> float:
    """Mean cosine of random distinct row pairs: near 0 for embeddings spread over the
    sphere, near 1 when they collapse into a narrow cone (dimensional collapse)."""
    return float(random_pair_cosines(x, num_pairs, seed).mean())


def cosine_kurtosis(x: object, num_pairs: int = 100_000, seed: int = 0) -> float:
    """Excess (Fisher, biased) kurtosis of cosine similarities of random distinct row pairs.

    The pairs are :func:`random_pairs` ``(x.shape[0], num_pairs, seed)``; the value equals
    ``scipy.stats.kurtosis`` of those cosines. Large positive values flag hubness or
    collapse (see the module doc); if every sampled cosine is equal (total collapse)
    the kurtosis is undefined and NaN is returned.

    Raises:
        GraphValidationError: a row has zero norm or non-finite values.
    """
    cos = random_pair_cosines(x, num_pairs, seed)
    dev = cos - cos.mean()
    m2 = np.mean(dev**2)
    if m2 <= np.finfo(np.float64).tiny:
        return float("nan")
    return float(np.mean(dev**4) / m2**2 - 3.0)


def topic_purity(
    queries: object,
    corpus: object,
    query_labels: np.ndarray,
    item_labels: np.ndarray,
    k: int = 10,
    exclude_self: bool = False,
    chunk_size: int = 1024,
    exclude_rows: np.ndarray | None = None,
) -> float:
    """Mean fraction of each query's top-``k`` items whose label equals the query's label.

    Args:
        queries: ``[Q, D]`` query embeddings.
        corpus: ``[N, D]`` corpus embeddings.
        query_labels: ``[Q]`` integer label per query.
        item_labels: ``[N]`` integer label per corpus item.
        k: items retrieved per query.
        exclude_self: query ``i`` never retrieves corpus row ``i``; for queries that
            are the corpus items themselves (requires ``Q == N``).
        chunk_size: queries scored per matmul.
        exclude_rows: ``[Q]`` corpus row each query never retrieves (itself, when the
            queries are a sample of the corpus).
    """
    num_q = int(as_embeddings(queries, "queries").shape[0])
    n = int(as_embeddings(corpus, "corpus").shape[0])
    query_labels = _labels(query_labels, num_q, "query_labels")
    item_labels = _labels(item_labels, n, "item_labels")
    top = chunked_topk(
        queries, corpus, k, chunk_size, exclude_self=exclude_self, exclude_rows=exclude_rows
    )
    if num_q == 0 or top.shape[1] == 0:
        raise ShapeError(
            f"topic_purity: nothing to retrieve ({num_q} queries, {top.shape[1]} items each)"
        )
    return float((item_labels[top] == query_labels[:, None]).mean())
