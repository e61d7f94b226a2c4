"""Users of the synthetic graph: drifting interests, sessions and timestamped actions.

The sequence signal (PinnerFormer, https://arxiv.org/abs/2205.04507): a user has
a few interests (fine topics, correlated within a coarse topic) with Dirichlet
weights ``w``. Sessions are ordered in time and their topics follow a Markov
chain over the user's *current* interests:

.. math::

    z_k = \\begin{cases}
        z_{k-1} & \\text{w.p. } p_\\text{stay} \\\\
        t' \\text{ (new interest, replaces an old one)} & \\text{w.p. } p_\\text{new} \\\\
        i_j,\\ j \\sim \\text{Cat}(w) & \\text{otherwise}
    \\end{cases}

so the latest sessions predict the next ones better than the all-time
average. Each session has ``1 + Poisson`` actions a few seconds apart; an action
engages a popularity-weighted pin of the session topic, or with probability
``session_noise`` of a random topic (off-topic actions are more often hides and
shorter). Pins created after the cut are only engaged in the future window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphrep.data.synthetic_config import SyntheticConfig
from graphrep.data.synthetic_world import World

ACTION_NAMES = ("click", "save", "closeup", "hide")
HIDE = ACTION_NAMES.index("hide")
SURFACE_NAMES = ("home", "search", "board")
_ACTION_P_ON = np.array([0.5, 0.2, 0.25, 0.05])
_ACTION_P_OFF = np.array([0.45, 0.05, 0.15, 0.35])
_LOG_DURATION = np.array([1.5, 2.5, 3.0, 0.3], dtype=np.float32)  # log-seconds per action
_OFF_TOPIC_LOG_DURATION = np.float32(-0.7)
_DURATION_SIGMA = np.float32(0.7)
_SURFACE_P = np.array([0.6, 0.25, 0.15])
_SESSION_DISPERSION = 3.0  # gamma shape of the per-user session rate (negative binomial counts)
_MIN_SESSION_GAP = 60  # seconds between the end of a session and the start of the next


@dataclass(frozen=True, eq=False)
class UserActivity:
    """Simulated sessions and events; events are in session order = (user, time) order."""

    interests: np.ndarray  # int32 [U, max_interests], -1 padded: interests at the cut
    session_user: np.ndarray  # int32 [S]
    session_topic: np.ndarray  # int32 [S]
    session_start: np.ndarray  # int64 [S]
    event_session: np.ndarray  # int32/int64 [E]
    pin: np.ndarray  # int32 [E]
    timestamp: np.ndarray  # int64 [E]
    action: np.ndarray  # int8 [E]
    surface: np.ndarray  # int8 [E]
    duration: np.ndarray  # float32 [E]

    @property
    def event_user(self) -> np.ndarray:
        return self.session_user[self.event_session]


def related_topics(
    world: World, anchor: np.ndarray, p_same_coarse: float, rng: np.random.Generator
) -> np.ndarray:
    """A topic per anchor by popularity, within the anchor's coarse topic w.p. ``p_same_coarse``."""
    out = world.sample_topics(rng, len(anchor))
    same = np.flatnonzero(rng.random(len(anchor)) < p_same_coarse)
    out[same] = world.topics_by_coarse.sample(rng, world.topic_coarse[anchor[same]])
    return out


def draw_interests(
    cfg: SyntheticConfig, world: World, num_users: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct interests (``int32 [U, M]``, left-aligned, -1 padded) and Dirichlet(1) weights."""
    m = cfg.max_interests
    n_int = np.minimum(1 + rng.poisson(cfg.interests_per_user - 1.0, num_users), m)
    interests = np.full((num_users, m), -1, dtype=np.int32)
    interests[:, 0] = world.sample_topics(rng, num_users)
    for j in range(1, m):
        rows = np.flatnonzero(n_int > j)
        for _ in range(4):  # redraw duplicates a bounded number of times; leftovers stay -1
            cand = related_topics(world, interests[rows, 0], cfg.interest_same_coarse, rng)
            dup = (interests[rows, :j] == cand[:, None]).any(axis=1)
            interests[rows[~dup], j] = cand[~dup]
            rows = rows[dup]
            if len(rows) == 0:
                break
    # left-align (a -1 left by a failed redraw must not sit before a real interest)
    order = np.argsort(interests < 0, axis=1, kind="stable")
    interests = np.take_along_axis(interests, order, axis=1)
    weights = rng.gamma(1.0, size=(num_users, m)) * (interests >= 0)
    return interests, weights


def simulate_users(
    cfg: SyntheticConfig, world: World, num_users: int, rng: np.random.Generator
) -> UserActivity:
    """Run the session Markov chain for every user at once and draw their actions."""
    span, cut = cfg.time_span, cfg.cut_time
    interests, weights = draw_interests(cfg, world, num_users, rng)

    rate = rng.gamma(
        _SESSION_DISPERSION, (cfg.sessions_per_user - 1.0) / _SESSION_DISPERSION, num_users
    )
    n_sess = np.minimum(1 + rng.poisson(rate), cfg.max_sessions_per_user)
    sess_off = np.zeros(num_users + 1, dtype=np.int64)
    np.cumsum(n_sess, out=sess_off[1:])
    n_sessions = int(sess_off[-1])
    session_user = np.repeat(np.arange(num_users, dtype=np.int32), n_sess)
    session_start = rng.integers(0, span, n_sessions, dtype=np.int64)
    session_start = session_start[np.lexsort((session_start, session_user))]

    # actions per session and their offsets (seconds) from the session start
    n_act = np.minimum(
        1 + rng.poisson(cfg.actions_per_session - 1.0, n_sessions), cfg.max_actions_per_session
    )
    ev_off = np.zeros(n_sessions + 1, dtype=np.int64)
    np.cumsum(n_act, out=ev_off[1:])
    n_events = int(ev_off[-1])
    sid_dtype = np.int32 if n_sessions < 2**31 else np.int64
    event_session = np.repeat(np.arange(n_sessions, dtype=sid_dtype), n_act)
    within = 1 + np.floor(rng.exponential(cfg.action_gap_seconds, n_events)).astype(np.int64)
    within[ev_off[:-1]] = 0
    np.cumsum(within, out=within)
    within -= np.repeat(within[ev_off[:-1]], n_act)
    session_len = within[ev_off[1:] - 1]

    session_topic = _session_chain(
        cfg, world, interests, weights, n_sess, sess_off, session_start, session_len, rng
    )
    interests_at_cut = session_topic.interests_at_cut
    topics = session_topic.topics

    timestamp = session_start[event_session] + within
    del within
    off = rng.random(n_events) < cfg.session_noise
    ev_topic = topics[event_session]
    ev_topic[off] = world.sample_topics(rng, int(off.sum()))
    pin = world.sample_pins(rng, ev_topic, timestamp >= cut)
    del ev_topic
    action = np.empty(n_events, dtype=np.int8)
    for mask, probs in ((~off, _ACTION_P_ON), (off, _ACTION_P_OFF)):
        sel = np.flatnonzero(mask)
        action[sel] = np.searchsorted(np.cumsum(probs)[:-1], rng.random(len(sel)), side="right")
    log_d = rng.standard_normal(n_events, dtype=np.float32)
    log_d *= _DURATION_SIGMA
    log_d += _LOG_DURATION[action]
    log_d[off] += _OFF_TOPIC_LOG_DURATION
    duration = np.exp(log_d, out=log_d)
    surface = np.searchsorted(np.cumsum(_SURFACE_P)[:-1], rng.random(n_events), side="right")
    return UserActivity(
        interests=interests_at_cut,
        session_user=session_user,
        session_topic=topics,
        session_start=session_start,
        event_session=event_session,
        pin=pin,
        timestamp=timestamp,
        action=action,
        surface=surface.astype(np.int8),
        duration=duration,
    )


@dataclass(frozen=True, eq=False)
class _Chain:
    topics: np.ndarray
    interests_at_cut: np.ndarray


def _session_chain(
    cfg: SyntheticConfig,
    world: World,
    interests: np.ndarray,
    weights: np.ndarray,
    n_sess: np.ndarray,
    sess_off: np.ndarray,
    session_start: np.ndarray,
    session_len: np.ndarray,
    rng: np.random.Generator,
) -> _Chain:
    """Session topics, step k = k-th session of every user (vectorised over users).

    Also pushes a session's start past the previous one's end (sessions never
    overlap, so events sorted by session are sorted by time) and records each
    user's interests as they stand at the cut (``interests`` is updated in place).
    """
    num_users, cut = len(n_sess), cfg.cut_time
    topics = np.empty(int(sess_off[-1]), dtype=np.int32)
    by_count = np.argsort(-n_sess, kind="stable")  # users with more sessions first
    active = num_users - np.cumsum(np.bincount(n_sess, minlength=cfg.max_sessions_per_user + 1))
    prev = np.zeros(num_users, dtype=np.int32)
    last_end = np.zeros(num_users, dtype=np.int64)
    at_cut = np.full_like(interests, -1)
    snapped = np.zeros(num_users, dtype=bool)
    cum_w = np.cumsum(weights, axis=1)
    for k in range(int(n_sess.max(initial=0))):
        users = by_count[: active[k]]
        sid = sess_off[users] + k
        start = session_start[sid]
        if k > 0:
            start = np.maximum(start, last_end[users] + _MIN_SESSION_GAP)
            session_start[sid] = start
        last_end[users] = start + session_len[sid]
        crossing = users[(start >= cut) & ~snapped[users]]
        at_cut[crossing] = interests[crossing]
        snapped[crossing] = True
        # an interest drawn by weight
        cw = cum_w[users]
        slot = (cw <= (rng.random(len(users)) * cw[:, -1])[:, None]).sum(axis=1)
        topic = interests[users, np.minimum(slot, interests.shape[1] - 1)]
        if k > 0:
            r = rng.random(len(users))
            topic = np.where(r < cfg.session_stay, prev[users], topic)
            new = np.flatnonzero(
                (r >= cfg.session_stay) & (r < cfg.session_stay + cfg.session_new_interest)
            )
            if len(new):
                nu = users[new]
                cand = related_topics(world, prev[nu], cfg.interest_same_coarse, rng)
                fresh = ~(interests[nu] == cand[:, None]).any(axis=1)
                n_have = (interests[nu[fresh]] >= 0).sum(axis=1)
                slot_new = np.floor(rng.random(len(n_have)) * n_have).astype(np.int64)
                interests[nu[fresh], slot_new] = cand[fresh]
                topic[new] = cand
        prev[users] = topic
        topics[sid] = topic
    at_cut[~snapped] = interests[~snapped]
    return _Chain(topics, at_cut)
