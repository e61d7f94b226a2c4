"""Topics, pins and content of the synthetic graph: the hidden "world" every signal derives from.

* Fine topics ``t`` belong to coarse topics ``t // fine_per_coarse``; a random
  partition puts fine topics into *look-alike groups* sharing (nearly) one image
  centroid, so content alone confuses them.
* Popularity is Zipf twice: a topic of popularity rank ``r`` has weight
  ``(r + 1) ** -topic_zipf``, a pin of rank ``r`` inside its topic
  ``(r + 1) ** -pin_zipf``. Draws of "a pin of topic ``t``" are by inverse CDF over
  the pins grouped by topic (:class:`SegmentSampler`), so hot pins soak up most
  edges and the long tail gets few or none.
* Pin content: ``image = c_t + ε``, ``c_t = g_{group(t)} + jitter``,
  ``‖g‖ = 1``, ``ε ~ N(0, σ²/d · I)``; text tokens are drawn from the topic's own
  vocabulary, the look-alike group's shared vocabulary or generic tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphrep.data.synthetic_config import Mix, SyntheticConfig
from graphrep.graph.ragged import Ragged

_CHUNK = 1 << 22  # draws per chunk when sampling, bounds float64 temporaries


def zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Weights ``(rank + 1) ** -exponent`` with ranks a random permutation of ``0..n-1``."""
    return (rng.permutation(n).astype(np.float64) + 1.0) ** -exponent


def weighted_choice(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    """``size`` iid draws of an index with probability ∝ ``weights`` (int64)."""
    cum = np.cumsum(weights, dtype=np.float64)
    idx = np.searchsorted(cum, rng.random(size) * cum[-1], side="right")
    return np.minimum(idx, len(weights) - 1)


@dataclass(frozen=True, eq=False)
class SegmentSampler:
    """Draw an item of a given segment with probability ∝ its weight (inverse CDF).

    Items are grouped by segment (``order``/``offsets``); ``cum`` is the running sum
    of the weights along ``order`` with a leading 0, so segment ``s`` owns the mass
    ``cum[offsets[s + 1]] - cum[offsets[s]]``. A draw picks ``u ~ U[0, 1)`` and the
    item whose cumulative interval holds ``cum[offsets[s]] + u · mass(s)``. Items of
    weight 0 are never drawn; every drawn segment must have positive mass.
    """

    order: np.ndarray
    offsets: np.ndarray
    cum: np.ndarray

    @classmethod
    def build(cls, segment: np.ndarray, weights: np.ndarray, num_segments: int) -> SegmentSampler:
        order = np.argsort(segment, kind="stable")
        offsets = np.zeros(num_segments + 1, dtype=np.int64)
        np.cumsum(np.bincount(segment, minlength=num_segments), out=offsets[1:])
        cum = np.zeros(len(order) + 1, dtype=np.float64)
        np.cumsum(weights[order], out=cum[1:])
        return cls(order, offsets, cum)

    def reweighted(self, weights: np.ndarray) -> SegmentSampler:
        """Same grouping, other weights (per item, in item order)."""
        cum = np.zeros(len(self.order) + 1, dtype=np.float64)
        np.cumsum(weights[self.order], out=cum[1:])
        return SegmentSampler(self.order, self.offsets, cum)

    def mass(self) -> np.ndarray:
        return self.cum[self.offsets[1:]] - self.cum[self.offsets[:-1]]

    def sample(self, rng: np.random.Generator, segment: np.ndarray) -> np.ndarray:
        """One item per entry of ``segment`` (ids in the dtype of ``order``)."""
        out = np.empty(len(segment), dtype=self.order.dtype)
        for lo in range(0, len(segment), _CHUNK):
            seg = segment[lo : lo + _CHUNK]
            first, last = self.offsets[seg], self.offsets[seg + 1] - 1
            base = self.cum[first]
            target = base + rng.random(len(seg)) * (self.cum[last + 1] - base)
            idx = np.searchsorted(self.cum, target, side="right") - 1
            np.clip(idx, first, last, out=idx)
            out[lo : lo + _CHUNK] = self.order[idx]
        return out


@dataclass(frozen=True, eq=False)
class TextVocab:
    """Token vocabulary: 0 = padding, then generic, per-group and per-topic blocks.

    Tokens are drawn in this block layout ("raw" ids) and published through the
    random permutation ``perm`` (``perm[0] == 0``), so ids carry no topic order.
    """

    generic: int
    group: int
    topic: int
    num_groups: int
    num_topics: int
    perm: np.ndarray  # int32 [size]: raw id -> published id

    def token_owner(self) -> tuple[np.ndarray, np.ndarray]:
        """Per published token id: its fine topic and its look-alike group (-1 if none)."""
        raw = np.arange(self.size)
        topic = np.where(raw >= self.topic_base, (raw - self.topic_base) // max(self.topic, 1), -1)
        in_group = (raw >= self.group_base) & (raw < self.topic_base)
        group = np.where(in_group, (raw - self.group_base) // max(self.group, 1), -1)
        out_t, out_g = np.empty(self.size, np.int32), np.empty(self.size, np.int32)
        out_t[self.perm], out_g[self.perm] = topic, group
        return out_t, out_g

    @property
    def group_base(self) -> int:
        return 1 + self.generic

    @property
    def topic_base(self) -> int:
        return self.group_base + self.num_groups * self.group

    @property
    def size(self) -> int:
        return self.topic_base + self.num_topics * self.topic


@dataclass(frozen=True, eq=False)
class World:
    """Topic structure and pin catalogue (see module docstring)."""

    topic_coarse: np.ndarray  # int32 [T]: coarse topic of each fine topic
    topic_group: np.ndarray  # int32 [T]: look-alike group of each fine topic
    topic_weight: np.ndarray  # float64 [T]: topic popularity
    topic_centroid: np.ndarray  # float32 [T, d]
    pin_topic: np.ndarray  # int32 [P]
    pin_new: np.ndarray  # bool [P]: created after the cut
    pin_weight: np.ndarray  # float64 [P]: popularity within the topic
    pins_old: SegmentSampler  # pins by topic, popularity-weighted, new pins excluded
    pins_all: SegmentSampler  # same, every pin
    topics_by_coarse: SegmentSampler  # fine topics by coarse topic, popularity-weighted
    vocab: TextVocab

    @property
    def num_topics(self) -> int:
        return len(self.topic_coarse)

    def sample_topics(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Fine topics drawn by popularity (int32)."""
        return weighted_choice(rng, self.topic_weight, size).astype(np.int32)

    def sample_pins(
        self, rng: np.random.Generator, topic: np.ndarray, future: np.ndarray, exponent: float = 1.0
    ) -> np.ndarray:
        """A pin of each ``topic`` with probability ∝ popularity ** ``exponent``.

        Pins created after the cut are drawn only where ``future`` is true.
        """
        old, every = self.pins_old, self.pins_all
        if exponent != 1.0:
            w = self.pin_weight**exponent
            every = every.reweighted(w)
            old = old.reweighted(np.where(self.pin_new, 0.0, w))
        out = np.empty(len(topic), dtype=np.int32)
        for mask, sampler in ((~future, old), (future, every)):
            sel = np.flatnonzero(mask)
            out[sel] = sampler.sample(rng, topic[sel])
        return out


def build_world(cfg: SyntheticConfig, num_pins: int, rng: np.random.Generator) -> World:
    """Draw topics, look-alike groups, centroids and pins (topic, popularity, cold flag)."""
    n_topics, gsize = cfg.num_fine_topics, cfg.lookalike_group_size
    topic_coarse = (np.arange(n_topics) // cfg.fine_per_coarse).astype(np.int32)
    topic_weight = zipf_weights(n_topics, cfg.topic_zipf, rng)
    topic_group = np.empty(n_topics, dtype=np.int32)
    topic_group[rng.permutation(n_topics)] = np.arange(n_topics) // gsize
    n_groups = -(-n_topics // gsize)
    group_c = _unit_rows(rng.standard_normal((n_groups, cfg.image_dim)))
    jitter = _unit_rows(rng.standard_normal((n_topics, cfg.image_dim)))
    topic_centroid = (group_c[topic_group] + cfg.lookalike_jitter * jitter).astype(np.float32)

    # every topic gets one guaranteed old pin (ids 0..T-1), the rest by size share
    pin_topic = np.empty(num_pins, dtype=np.int32)
    pin_topic[:n_topics] = np.arange(n_topics)
    size_w = topic_weight**cfg.topic_size_exponent
    pin_topic[n_topics:] = weighted_choice(rng, size_w, num_pins - n_topics)
    perm = rng.permutation(num_pins)  # shuffle so that ids carry no topic information
    pin_topic = pin_topic[perm]
    pin_new = rng.random(num_pins) < cfg.cold_pin_fraction
    pin_new[perm < n_topics] = False
    # within-topic Zipf rank: position in a random order within the topic
    pins_all = SegmentSampler.build(pin_topic, np.ones(num_pins), n_topics)
    rank = np.empty(num_pins, dtype=np.float64)
    by_topic = pins_all.order
    rank[by_topic] = np.arange(num_pins) - np.repeat(
        pins_all.offsets[:-1], np.diff(pins_all.offsets)
    )
    pin_weight = (rank + 1.0) ** -cfg.pin_zipf
    del rank
    pins_all = pins_all.reweighted(pin_weight)
    pins_old = pins_all.reweighted(np.where(pin_new, 0.0, pin_weight))
    size = 1 + cfg.generic_vocab + n_groups * cfg.group_vocab + n_topics * cfg.topic_vocab
    perm = np.concatenate([[0], 1 + rng.permutation(size - 1)]).astype(np.int32)
    vocab = TextVocab(cfg.generic_vocab, cfg.group_vocab, cfg.topic_vocab, n_groups, n_topics, perm)
    return World(
        topic_coarse=topic_coarse,
        topic_group=topic_group,
        topic_weight=topic_weight,
        topic_centroid=topic_centroid,
        pin_topic=pin_topic,
        pin_new=pin_new,
        pin_weight=pin_weight,
        pins_old=SegmentSampler(pins_old.order.astype(np.int32), pins_old.offsets, pins_old.cum),
        pins_all=SegmentSampler(pins_all.order.astype(np.int32), pins_all.offsets, pins_all.cum),
        topics_by_coarse=SegmentSampler.build(topic_coarse, topic_weight, cfg.num_coarse_topics),
        vocab=vocab,
    )


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def pin_images(world: World, noise: float, rng: np.random.Generator) -> np.ndarray:
    """``float32 [P, d]``: topic centroid + Gaussian noise of expected norm ``noise``."""
    d = world.topic_centroid.shape[1]
    img = rng.standard_normal((len(world.pin_topic), d), dtype=np.float32)
    img *= np.float32(noise / np.sqrt(d))
    img += world.topic_centroid[world.pin_topic]
    return img


def make_text(
    world: World, topic: np.ndarray, mean_len: float, mix: Mix, rng: np.random.Generator
) -> Ragged:
    """Token lists (``int32``), one per entry of ``topic``.

    Lengths are ``1 + Poisson(mean_len - 1)``; each token independently comes from
    the topic's vocabulary, its look-alike group's or the generic one with
    probabilities ``mix``, and within a vocabulary by Zipf rank (exponent 1).
    """
    v = world.vocab
    lengths = 1 + rng.poisson(mean_len - 1.0, len(topic))
    row_topic = np.repeat(topic, lengths)
    n = len(row_topic)
    kind = np.searchsorted(np.cumsum(mix[:2]), rng.random(n), side="right")  # topic/group/generic
    tokens = np.empty(n, dtype=np.int64)
    for k, size in enumerate((v.topic, v.group, v.generic)):
        sel = np.flatnonzero(kind == k)
        t = row_topic[sel]
        if k == 0:
            base = v.topic_base + t.astype(np.int64) * v.topic
        elif k == 1:
            base = v.group_base + world.topic_group[t].astype(np.int64) * v.group
        else:
            base = 1
        tokens[sel] = base + weighted_choice(rng, 1.0 / np.arange(1, size + 1), len(sel))
    return Ragged.from_lengths(lengths, v.perm[tokens])
