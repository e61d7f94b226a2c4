"""A synthetic Pinterest-like graph with planted ground truth.

The built-in data set of graphrep: pins, boards, users and queries over a
hidden topic structure, built so that each signal carries information the
others lack (as on the real site; see DESIGN.md, "The synthetic Pinterest
graph") and nothing is rigged for one model:

* **content** (pin ``image`` vector, ``text`` tokens): near the topic, but
  look-alike fine topics share an image centroid and most tokens, so content
  alone confuses them (:mod:`graphrep.data.synthetic_world`);
* **graph**: boards collect pins mostly of one topic, users and queries
  connect pins of one topic; popularity is Zipf and some pins are created after
  the cut, so the graph alone fails on cold pins;
* **sequences**: users' session topics follow a Markov chain over drifting
  interests, so recent actions beat the all-time average
  (:mod:`graphrep.data.synthetic_users`);
* **queries**: text of their topic's tokens; they click pins of that topic.

Schema (forward relations; ``rev_<rel>`` reverses are built by the graph):

====================================  ==================================================
``("board", "contains", "pin")``      saves before the cut (``timestamp``)
``("user", "engaged", "pin")``        every action before the cut (``action``, ``timestamp``)
``("query", "clicked", "pin")``       search clicks before the cut, merged (``weight``,
                                      ``timestamp``)
``("pin", "co_engaged", "pin")``      consecutive non-hide actions of a session before the
                                      cut, earlier -> later pin, merged (``weight`` = count)
====================================  ==================================================

The :class:`~graphrep.graph.eventlog.EventLog` holds every action, history and
future; ``meta["cut_time"]`` splits them. Held-out pairs are the *new* pairs of
the future window (never seen before the cut, hence absent from the graph):
``heldout_co_engaged`` (unordered, ``a < b``), ``heldout_query_pin``,
``heldout_board_pin``.

Example:
    >>> ds = generate("tiny", seed=0)
    >>> sorted(ds.graph.num_nodes)
    ['board', 'pin', 'query', 'user']
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphrep.data.dataset import GraphDataset
from graphrep.data.synthetic_config import (
    PRESETS,
    SyntheticConfig,
    preset_config,
    resolve_config,
)
from graphrep.data.synthetic_users import (
    ACTION_NAMES,
    HIDE,
    SURFACE_NAMES,
    UserActivity,
    simulate_users,
)
from graphrep.data.synthetic_world import World, build_world, make_text, pin_images, zipf_weights
from graphrep.errors import ConfigError
from graphrep.graph.csr import CSR
from graphrep.graph.eventlog import EventLog
from graphrep.graph.heterograph import HeteroGraph

__all__ = [
    "ACTION_NAMES",
    "GENERATOR_VERSION",
    "PRESETS",
    "SURFACE_NAMES",
    "SyntheticConfig",
    "generate",
    "preset_config",
]

GENERATOR_VERSION = 1
BOARD_CONTAINS = ("board", "contains", "pin")
USER_ENGAGED = ("user", "engaged", "pin")
QUERY_CLICKED = ("query", "clicked", "pin")
PIN_CO_ENGAGED = ("pin", "co_engaged", "pin")


def generate(config: SyntheticConfig | str = "default", seed: int = 0) -> GraphDataset:
    """Generate the synthetic graph, its event log and ground truth.

    Args:
        config: a :class:`SyntheticConfig` or a preset name (``"tiny"``,
            ``"default"``, ``"large"``; see :func:`preset_config` for ``scale``).
        seed: the only source of randomness: one seed gives identical output.

    Returns:
        A :class:`GraphDataset` whose ``truth`` holds ``pin_topic``,
        ``pin_coarse_topic``, ``pin_is_new`` (created after the cut), ``board_topic``,
        ``query_topic``, ``topic_coarse`` (fine -> coarse), ``topic_lookalike_group``,
        ``topic_centroid``, ``token_topic``/``token_lookalike_group`` (owner of each
        token id, -1 for generic tokens), ``user_interests`` (``[U, max_interests]``, -1 padded, as
        of the cut), ``session_user``/``session_topic``/``session_start``,
        ``event_session`` (aligned with the EventLog rows) and the held-out pairs
        ``heldout_co_engaged``, ``heldout_query_pin``, ``heldout_board_pin`` (``[m, 2]``
        int64); ``meta`` holds ``name``, ``preset``, ``seed``, ``cut_time``,
        ``time_span``, ``vocab_size``, ``config`` and ``generator_version``.
    """
    cfg, preset = resolve_config(config)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"generate(seed=...): expected an int >= 0, got {seed!r}")
    counts = cfg.counts()
    cut = cfg.cut_time
    r_world, r_content, r_board, r_query, r_user = (
        np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(5)
    )
    world = build_world(cfg, counts["pin"], r_world)

    board_topic, saves = _board_saves(cfg, world, counts["board"], r_board)
    query_topic, clicks = _query_clicks(cfg, world, counts["query"], r_query)
    users = simulate_users(cfg, world, counts["user"], r_user)

    relations: dict[tuple[str, str, str], CSR] = {}
    truth: dict[str, np.ndarray] = {}
    relations[BOARD_CONTAINS], truth["heldout_board_pin"] = _split_pairs(
        *saves, counts["board"], counts["pin"], cut, merge=False
    )
    relations[QUERY_CLICKED], truth["heldout_query_pin"] = _split_pairs(
        *clicks, counts["query"], counts["pin"], cut, merge=True
    )
    del saves, clicks
    relations[PIN_CO_ENGAGED], truth["heldout_co_engaged"] = _co_engagement(
        users, counts["pin"], cut
    )
    past = users.timestamp < cut
    relations[USER_ENGAGED] = CSR.from_coo(
        users.event_user[past],
        users.pin[past],
        counts["user"],
        counts["pin"],
        {"action": users.action[past], "timestamp": users.timestamp[past]},
    )
    del past

    features = {
        "pin": {
            "image": pin_images(world, cfg.image_noise, r_content),
            "text": make_text(
                world, world.pin_topic, cfg.pin_text_len, cfg.pin_text_mix, r_content
            ),
        },
        "board": {
            "text": make_text(world, board_topic, cfg.board_text_len, cfg.board_text_mix, r_content)
        },
        "query": {
            "text": make_text(world, query_topic, cfg.query_text_len, cfg.query_text_mix, r_content)
        },
    }
    graph = HeteroGraph(counts, relations, features=features)
    del relations, features
    events = EventLog.from_arrays(
        users.event_user,
        users.pin,
        users.timestamp,
        num_users=counts["user"],
        action=users.action,
        surface=users.surface,
        duration=users.duration,
        item_types=("pin",),
        action_names=ACTION_NAMES,
        surface_names=SURFACE_NAMES,
    )
    truth.update(_truth(world, board_topic, query_topic, users))
    meta: dict[str, Any] = {
        "name": "synthetic",
        "preset": preset,
        "seed": int(seed),
        "cut_time": int(cut),
        "time_span": int(cfg.time_span),
        "vocab_size": int(world.vocab.size),
        "config": cfg.to_dict(),
        "generator_version": GENERATOR_VERSION,
    }
    return GraphDataset(graph, events, truth, meta)


def _truth(
    world: World, board_topic: np.ndarray, query_topic: np.ndarray, users: UserActivity
) -> dict[str, np.ndarray]:
    token_topic, token_group = world.vocab.token_owner()
    return {
        "pin_topic": world.pin_topic,
        "pin_coarse_topic": world.topic_coarse[world.pin_topic],
        "pin_is_new": world.pin_new,
        "board_topic": board_topic,
        "query_topic": query_topic,
        "topic_coarse": world.topic_coarse,
        "topic_lookalike_group": world.topic_group,
        "topic_centroid": world.topic_centroid,
        "token_topic": token_topic,
        "token_lookalike_group": token_group,
        "user_interests": users.interests,
        "session_user": users.session_user,
        "session_topic": users.session_topic,
        "session_start": users.session_start,
        "event_session": users.event_session,
    }


def _board_saves(
    cfg: SyntheticConfig, world: World, num_boards: int, rng: np.random.Generator
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Board topics and ``(board, pin, time)`` saves, each pin off-topic w.p. ``board_noise``.

    Board sizes are ``1 + NegBin`` (geometric-like, mean ``pins_per_board``); save
    times are uniform over the span (pins created after the cut only after it).
    """
    board_topic = world.sample_topics(rng, num_boards)
    size = 1 + rng.poisson(rng.exponential(cfg.pins_per_board - 1.0, num_boards))
    board = np.repeat(np.arange(num_boards, dtype=np.int32), size)
    topic = board_topic[board]
    off = np.flatnonzero(rng.random(len(board)) < cfg.board_noise)
    topic[off] = world.sample_topics(rng, len(off))
    t = rng.integers(0, cfg.time_span, len(board), dtype=np.int64)
    pin = world.sample_pins(rng, topic, t >= cfg.cut_time, cfg.board_popularity_exponent)
    return board_topic, (board, pin, t)


def _query_clicks(
    cfg: SyntheticConfig, world: World, num_queries: int, rng: np.random.Generator
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Query topics and ``(query, pin, time)`` clicks: queries by Zipf popularity,
    pins of the query's topic by popularity (off-topic w.p. ``query_noise``)."""
    query_topic = world.sample_topics(rng, num_queries)
    n_clicks = max(1, round(cfg.clicks_per_query * num_queries))
    weight = zipf_weights(num_queries, cfg.query_zipf, rng)
    cum = np.cumsum(weight)
    query = np.minimum(
        np.searchsorted(cum, rng.random(n_clicks) * cum[-1], side="right"), num_queries - 1
    ).astype(np.int32)
    topic = query_topic[query]
    off = np.flatnonzero(rng.random(n_clicks) < cfg.query_noise)
    topic[off] = world.sample_topics(rng, len(off))
    t = rng.integers(0, cfg.time_span, n_clicks, dtype=np.int64)
    pin = world.sample_pins(rng, topic, t >= cfg.cut_time)
    return query_topic, (query, pin, t)


def _split_pairs(
    src: np.ndarray,
    dst: np.ndarray,
    t: np.ndarray,
    num_src: int,
    num_dst: int,
    cut: int,
    *,
    merge: bool,
) -> tuple[CSR, np.ndarray]:
    """History edges as a CSR and the new future pairs ``[m, 2]`` (sorted, int64).

    ``merge=False`` keeps one edge per pair (its first time); ``merge=True`` merges
    repeats into ``weight`` counts (latest ``timestamp``). A pair is held out if it
    occurs at or after ``cut`` and never before.
    """
    key = src.astype(np.int64) * num_dst + dst
    past = t < cut
    seen = _sorted_unique(key[past])
    if merge:
        csr = CSR.from_coo(
            src[past], dst[past], num_src, num_dst, {"timestamp": t[past]}, duplicates="merge"
        )
    else:  # first save of each pair (ties broken by input order)
        order = np.lexsort((t, key))
        first = np.ones(len(order), dtype=bool)
        first[1:] = key[order][1:] != key[order][:-1]
        keep = order[first]
        keep = np.sort(keep[past[keep]])
        csr = CSR.from_coo(src[keep], dst[keep], num_src, num_dst, {"timestamp": t[keep]})
    new = _new_keys(key[~past], seen)
    return csr, np.stack([new // num_dst, new % num_dst], axis=1)


def _co_engagement(users: UserActivity, num_pins: int, cut: int) -> tuple[CSR, np.ndarray]:
    """``co_engaged`` CSR from history sessions and the new unordered future pairs.

    Pairs are consecutive non-hide actions of one session (earlier -> later pin,
    self-pairs dropped), timed at the later action.
    """
    pos = np.flatnonzero(users.action != HIDE)
    a, b = pos[:-1], pos[1:]
    keep = users.event_session[a] == users.event_session[b]
    a, b = a[keep], b[keep]
    pa, pb = users.pin[a], users.pin[b]
    keep = pa != pb
    pa, pb, t = pa[keep], pb[keep], users.timestamp[b[keep]]
    del a, b, pos, keep
    past = t < cut
    lo, hi = np.minimum(pa, pb).astype(np.int64), np.maximum(pa, pb).astype(np.int64)
    key = lo * num_pins + hi
    del lo, hi
    new = _new_keys(key[~past], _sorted_unique(key[past]))
    del key
    csr = CSR.from_coo(
        pa[past], pb[past], num_pins, num_pins, {"timestamp": t[past]}, duplicates="merge"
    )
    return csr, np.stack([new // num_pins, new % num_pins], axis=1)


def _sorted_unique(x: np.ndarray) -> np.ndarray:
    """Sorted distinct values (a sort + mask; faster than ``np.unique``'s hashing on int64 keys)."""
    x = np.sort(x)
    keep = np.ones(len(x), dtype=bool)
    keep[1:] = x[1:] != x[:-1]
    return x[keep]


def _new_keys(keys: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Sorted distinct ``keys`` that are not in the sorted unique array ``seen``."""
    keys = _sorted_unique(keys)
    pos = np.minimum(np.searchsorted(seen, keys), max(len(seen) - 1, 0))
    found = seen[pos] == keys if len(seen) else np.zeros(len(keys), dtype=bool)
    return keys[~found]
