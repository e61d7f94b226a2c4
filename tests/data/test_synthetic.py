import dataclasses
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphrep.data.dataset import GraphDataset
from graphrep.data.synthetic import (
    ACTION_NAMES,
    PRESETS,
    SURFACE_NAMES,
    SyntheticConfig,
    generate,
    preset_config,
)
from graphrep.errors import ConfigError
from graphrep.graph.ragged import Ragged

FORWARD = [
    ("board", "contains", "pin"),
    ("query", "clicked", "pin"),
    ("pin", "co_engaged", "pin"),
    ("user", "engaged", "pin"),
]
HIDE = ACTION_NAMES.index("hide")


@pytest.fixture(scope="module")
def tiny():
    return generate("tiny", seed=0)


def pair_keys(csr, num_dst):
    src, dst = csr.to_coo()
    return set((src * num_dst + dst).tolist())


# ---------------------------------------------------------------- config
def test_presets_and_scale():
    assert set(PRESETS) == {"tiny", "default", "large"}
    tiny = preset_config("tiny")
    assert tiny.counts() == {"pin": 500, "board": 60, "user": 100, "query": 40}
    assert preset_config("tiny", scale=2.0).counts() == {
        "pin": 1000,
        "board": 120,
        "user": 200,
        "query": 80,
    }
    assert PRESETS["tiny"].scale == 1.0  # preset_config returns a copy
    with pytest.raises(ConfigError, match="unknown synthetic preset 'huge'"):
        preset_config("huge")
    with pytest.raises(ConfigError, match=r"SyntheticConfig\.scale"):
        preset_config("tiny", scale=0.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("num_pins", 0),
        ("num_users", 2.5),
        ("scale", -1.0),
        ("cut_fraction", 1.0),
        ("session_stay", 1.5),
        ("board_noise", -0.1),
        ("pin_text_mix", (0.5, 0.5, 0.5)),
        ("query_text_mix", (1.0, 0.0)),
        ("image_noise", float("nan")),
        ("lookalike_group_size", 1000),
        ("sessions_per_user", 0.5),
        ("max_interests", True),
    ],
)
def test_validate_names_the_field(field, value):
    cfg = dataclasses.replace(PRESETS["tiny"], **{field: value})
    with pytest.raises(ConfigError, match=f"SyntheticConfig.{field}"):
        cfg.validate()
    with pytest.raises(ConfigError, match=f"SyntheticConfig.{field}"):
        generate(cfg)


def test_validate_cross_field_rules():
    cfg = dataclasses.replace(PRESETS["tiny"], session_stay=0.7, session_new_interest=0.4)
    with pytest.raises(ConfigError, match="session_stay"):
        cfg.validate()
    cfg = dataclasses.replace(PRESETS["tiny"], num_pins=10)  # 16 fine topics need 16 pins
    with pytest.raises(ConfigError, match=r"num_pins.*one pin per fine topic"):
        cfg.validate()
    with pytest.raises(ConfigError, match="seed"):
        generate("tiny", seed=-1)
    with pytest.raises(ConfigError, match="SyntheticConfig or a preset name"):
        generate(3)


# ---------------------------------------------------------------- determinism, schema
def test_same_seed_same_output_other_seed_differs(tiny):
    again = generate("tiny", seed=0)
    assert again.graph.equals(tiny.graph) and again.events.equals(tiny.events)
    assert set(again.truth) == set(tiny.truth)
    assert all(np.array_equal(again.truth[k], v) for k, v in tiny.truth.items())
    assert again.meta == tiny.meta
    other = generate("tiny", seed=1)
    assert not other.graph.equals(tiny.graph) and not other.events.equals(tiny.events)
    assert not np.array_equal(other.truth["pin_topic"], tiny.truth["pin_topic"])


def test_schema(tiny):
    g, ev, cfg = tiny.graph, tiny.events, PRESETS["tiny"]
    assert g.num_nodes == {"pin": 500, "board": 60, "user": 100, "query": 40}
    assert sorted(g.canonical_edge_types) == sorted(FORWARD)
    for et in FORWARD:
        assert g.reverse_of(et) == (et[2], "rev_" + et[1], et[0])
        assert g.num_edges(et) > 0
    assert set(g.csr("engaged").edge_data) == {"action", "timestamp"}
    assert g.csr("engaged").edge_data["action"].max() < len(ACTION_NAMES)
    assert set(g.csr("contains").edge_data) == {"timestamp"}
    assert set(g.csr("co_engaged").edge_data) == {"weight", "timestamp"}
    assert set(g.csr("clicked").edge_data) == {"weight", "timestamp"}
    img = g.features["pin"]["image"]
    assert img.dtype == np.float32 and img.shape == (500, cfg.image_dim)
    vocab = tiny.meta["vocab_size"]
    for nt in ("pin", "board", "query"):
        text = g.features[nt]["text"]
        assert isinstance(text, Ragged) and len(text) == g.num_nodes[nt]
        assert text.values.dtype == np.int32 and text.lengths().min() >= 1
        assert 1 <= text.values.min() and text.values.max() < vocab  # 0 is padding
    assert g.features["user"] == {}
    assert set(g.features["board"]) == {"text"} and set(g.features["query"]) == {"text"}
    # the event log: sorted by (user, time), items in range, vocabularies
    assert ev.item_types == ("pin",) and ev.action_names == ACTION_NAMES
    assert ev.surface_names == SURFACE_NAMES
    assert np.all(np.diff(ev.user) >= 0)
    same = ev.user[1:] == ev.user[:-1]
    assert np.all(np.diff(ev.timestamp)[same] >= 0)
    assert ev.item.min() >= 0 and ev.item.max() < 500 and np.all(ev.duration > 0)
    meta = tiny.meta
    assert meta["name"] == "synthetic" and meta["preset"] == "tiny" and meta["seed"] == 0
    assert meta["config"]["num_pins"] == 500 and meta["generator_version"] >= 1
    assert meta["cut_time"] == cfg.cut_time
    t = tiny.truth
    assert t["topic_coarse"].tolist() == (np.arange(16) // 4).tolist()
    assert np.array_equal(t["pin_coarse_topic"], t["topic_coarse"][t["pin_topic"]])
    assert t["user_interests"].shape == (100, cfg.max_interests)
    assert np.array_equal(t["session_user"][t["event_session"]], ev.user)  # aligned with the log


def test_graph_is_history_and_events_cover_future(tiny):
    g, ev, cut = tiny.graph, tiny.events, tiny.meta["cut_time"]
    for et in FORWARD:
        assert g.csr(et).edge_data["timestamp"].max() < cut
    # engaged edges are exactly the history events
    hist = ev.before(cut)
    eng = g.csr("engaged")
    src, dst = eng.to_coo()
    assert np.array_equal(np.bincount(src, minlength=100), hist.events_per_user())
    a = np.lexsort((hist.item, hist.timestamp, hist.user))
    b = np.lexsort((dst, eng.edge_data["timestamp"], src))
    assert np.array_equal(hist.item[a], dst[b])
    assert np.array_equal(hist.action[a], eng.edge_data["action"][b])
    future = ev.after(cut)
    assert len(future) > 0.1 * len(ev)
    assert (future.events_per_user() > 0).mean() > 0.8


def test_co_engaged_is_consecutive_session_pairs(tiny):
    g, ev, cut = tiny.graph, tiny.events, tiny.meta["cut_time"]
    sess = tiny.truth["event_session"]
    pos = np.flatnonzero(ev.action != HIDE)
    a, b = pos[:-1], pos[1:]
    ok = (sess[a] == sess[b]) & (ev.item[a] != ev.item[b]) & (ev.timestamp[b] < cut)
    pa, pb = ev.item[a[ok]], ev.item[b[ok]]
    co = g.csr("co_engaged")
    assert co.edge_data["weight"].sum() == ok.sum()
    assert pair_keys(co, 500) == set((pa * 500 + pb).tolist())
    assert co.edge_data["weight"].max() > 1  # repeated pairs were merged


def test_heldout_pairs_are_new_future_pairs_absent_from_graph(tiny):
    g, ev, cut, t = tiny.graph, tiny.events, tiny.meta["cut_time"], tiny.truth
    for name, rel, num_src, symmetric in (
        ("heldout_co_engaged", "co_engaged", 500, True),
        ("heldout_query_pin", "clicked", 40, False),
        ("heldout_board_pin", "contains", 60, False),
    ):
        held = t[name]
        assert held.ndim == 2 and held.shape[1] == 2 and len(held) > 10, name
        assert held.dtype == np.int64 and held[:, 0].max() < num_src and held[:, 1].max() < 500
        assert len(np.unique(held[:, 0] * 500 + held[:, 1])) == len(held)
        keys = pair_keys(g.csr(rel), 500)
        assert not keys & set((held[:, 0] * 500 + held[:, 1]).tolist()), name
        if symmetric:
            assert np.all(held[:, 0] < held[:, 1])
            assert not keys & set((held[:, 1] * 500 + held[:, 0]).tolist())
    # held-out co-engagements do occur in future sessions of the log
    sess = t["event_session"]
    pos = np.flatnonzero(ev.action != HIDE)
    a, b = pos[:-1], pos[1:]
    ok = (sess[a] == sess[b]) & (ev.timestamp[b] >= cut) & (ev.item[a] != ev.item[b])
    lo, hi = np.minimum(ev.item[a[ok]], ev.item[b[ok]]), np.maximum(ev.item[a[ok]], ev.item[b[ok]])
    fut = set((lo * 500 + hi).tolist())
    held = t["heldout_co_engaged"]
    assert set((held[:, 0] * 500 + held[:, 1]).tolist()) <= fut


# ---------------------------------------------------------------- signals
def test_cold_pins_and_zipf_popularity(tiny):
    g, ev, cut, t = tiny.graph, tiny.events, tiny.meta["cut_time"], tiny.truth
    deg = g.degree("pin")
    new = t["pin_is_new"]
    assert 0.05 < new.mean() < 0.2
    assert np.all(deg[new] == 0)  # created after the cut: no history edges
    assert (deg == 0).mean() >= new.mean()
    hist_items = ev.item[ev.timestamp < cut]
    assert not new[hist_items].any()
    assert new[ev.item[ev.timestamp >= cut]].any()  # but engaged in the future window
    eng = np.sort(np.bincount(hist_items, minlength=500))[::-1]
    assert eng[:50].sum() > 0.4 * eng.sum()  # top 10% of pins: a large share (uniform: 10%)
    assert (eng <= 2).mean() > 0.1  # long tail


def test_boards_and_queries_follow_their_topic(tiny):
    g, t = tiny.graph, tiny.truth
    pt = t["pin_topic"]
    src, dst = g.csr("contains").to_coo()
    purity = (t["board_topic"][src] == pt[dst]).mean()
    assert 0.7 < purity < 0.95  # mostly one topic, with noise (chance is ~1/16)
    q, p = g.csr("clicked").to_coo()
    assert (t["query_topic"][q] == pt[p]).mean() > 0.75
    # query text: mostly its own topic's tokens; pin text: few (content is weak on fine topics)
    tok_topic, tok_group = t["token_topic"], t["token_lookalike_group"]
    assert len(tok_topic) == tiny.meta["vocab_size"] and tok_topic[0] == -1
    assert (tok_topic >= 0).sum() == 16 * PRESETS["tiny"].topic_vocab
    assert not np.any((tok_topic >= 0) & (tok_group >= 0))
    for nt, topic, lo, hi in (
        ("query", t["query_topic"], 0.45, 0.8),
        ("board", t["board_topic"], 0.25, 0.6),
        ("pin", pt, 0.03, 0.2),
    ):
        text = g.features[nt]["text"]
        row_topic = np.repeat(topic, text.lengths())
        own = tok_topic[text.values] == row_topic
        assert lo < own.mean() < hi, nt
        group = tok_group[text.values] == t["topic_lookalike_group"][row_topic]
        assert 0.15 < group.mean() < 0.45, nt
    # token ids are a random permutation: topic blocks are not contiguous
    ids = np.flatnonzero(tok_topic == 0)
    assert ids.max() - ids.min() > 5 * len(ids)


def test_image_separates_lookalike_groups_but_not_lookalike_topics(tiny):
    img, t = tiny.graph.features["pin"]["image"], tiny.truth
    c, pt, grp = t["topic_centroid"], t["pin_topic"], t["topic_lookalike_group"]
    assert np.bincount(grp).max() == PRESETS["tiny"].lookalike_group_size
    dist = (img**2).sum(1)[:, None] - 2 * img @ c.T + (c**2).sum(1)[None]
    pred = dist.argmin(1)
    group_ok = grp[pred] == grp[pt]
    assert group_ok.mean() > 0.9
    # inside the right group the fine topic is close to a coin flip (2 look-alikes)
    assert 0.4 < (pred == pt)[group_ok].mean() < 0.75
    # and different groups are far apart in image space
    gc = np.stack([c[grp == k].mean(0) for k in range(grp.max() + 1)])
    d = np.linalg.norm(gc[:, None] - gc[None], axis=-1)
    same = grp[:, None] == grp[None]
    tc = np.linalg.norm(c[:, None] - c[None], axis=-1)
    assert tc[same & ~np.eye(16, dtype=bool)].max() < 0.5 * d[~np.eye(len(gc), dtype=bool)].min()


def test_recent_sessions_predict_the_next_better_than_all_time(tiny):
    t = tiny.truth
    su, stp = t["session_user"], t["session_topic"]
    off = np.searchsorted(su, np.arange(101))
    last = mode = total = 0
    for u in range(100):  # a loop over users is fine in a test
        s = stp[off[u] : off[u + 1]]
        for k in range(3, len(s)):
            last += s[k] == s[k - 1]
            mode += s[k] == np.bincount(s[:k]).argmax()
            total += 1
    assert total > 500
    assert last / total > mode / total + 0.1


def test_recent_history_predicts_future_engagement_better_than_all_time(tiny):
    ev, cut, pt = tiny.events, tiny.meta["cut_time"], tiny.truth["pin_topic"]
    recent_hits = all_hits = n = 0
    for u in range(100):
        sl = ev.user_slice(u)
        items, ts = ev.item[sl], ev.timestamp[sl]
        hist, fut = pt[items[ts < cut]], pt[items[ts >= cut]][:5]  # the next few actions
        if len(hist) < 20 or len(fut) == 0:
            continue
        recent = np.bincount(hist[-5:], minlength=16).argmax()
        overall = np.bincount(hist, minlength=16).argmax()
        recent_hits += (fut == recent).sum()
        all_hits += (fut == overall).sum()
        n += len(fut)
    assert n > 200
    assert recent_hits > all_hits + 0.03 * n


def test_user_interests_are_coherent(tiny):
    t, cut = tiny.truth, tiny.meta["cut_time"]
    ui = t["user_interests"]
    valid = ui >= 0
    assert valid[:, 0].all() and np.all(valid[:, :-1] | ~valid[:, 1:])  # left-aligned
    for row in ui:
        r = row[row >= 0]
        assert len(np.unique(r)) == len(r)
    # interests cluster within a coarse topic (chance of same coarse: 1/4)
    coarse = np.where(valid, t["topic_coarse"][np.maximum(ui, 0)], -1)
    same = (coarse[:, 1:] == coarse[:, :1]) & valid[:, 1:]
    assert same.sum() / valid[:, 1:].sum() > 0.4
    # the first session after the cut is mostly about a current interest
    su, start, stp = t["session_user"], t["session_start"], t["session_topic"]
    after = np.flatnonzero(start >= cut)
    first = after[np.unique(su[after], return_index=True)[1]]
    hit = (ui[su[first]] == stp[first][:, None]).any(1)
    assert hit.mean() > 0.8


def test_actions_carry_signal(tiny):
    ev, t = tiny.events, tiny.truth
    on_topic = tiny.truth["pin_topic"][ev.item] == t["session_topic"][t["event_session"]]
    hide = ev.action == HIDE
    assert hide[~on_topic].mean() > 2 * hide[on_topic].mean()
    assert np.median(ev.duration[ev.action == ACTION_NAMES.index("closeup")]) > np.median(
        ev.duration[hide]
    )
    assert set(np.unique(ev.surface).tolist()) == set(range(len(SURFACE_NAMES)))


# ---------------------------------------------------------------- storage, scale, speed
def test_save_load_roundtrip(tiny, tmp_path):
    tiny.save(tmp_path / "ds")
    back = GraphDataset.load(tmp_path / "ds")
    assert back.graph.equals(tiny.graph) and back.events.equals(tiny.events)
    assert set(back.truth) == set(tiny.truth)
    assert all(np.array_equal(back.truth[k], v) for k, v in tiny.truth.items())
    assert back.meta == tiny.meta


def test_scale_knob_scales_entities_and_edges(tiny):
    big = generate(preset_config("tiny", scale=3.0), seed=0)
    assert big.graph.num_nodes["pin"] == 1500 and big.graph.num_nodes["user"] == 300
    assert big.meta["preset"] is None and big.meta["config"]["scale"] == 3.0
    ratio = big.graph.num_edges() / tiny.graph.num_edges()
    assert 2.2 < ratio < 3.8
    assert 2.5 < len(big.events) / len(tiny.events) < 3.5


def test_tiny_is_fast(tiny):
    t0 = time.perf_counter()
    generate("tiny", seed=3)
    assert time.perf_counter() - t0 < 3.0  # ~0.2 s; generous on a shared CPU


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**32),
    group=st.integers(1, 3),
    cold=st.floats(0.0, 0.5),
    noise=st.floats(0.0, 1.0),
    stay=st.floats(0.0, 0.9),
)
def test_invariants_hold_across_configs(seed, group, cold, noise, stay):
    cfg = dataclasses.replace(
        PRESETS["tiny"],
        scale=0.5,
        lookalike_group_size=group,
        cold_pin_fraction=cold,
        board_noise=noise,
        query_noise=noise,
        session_noise=noise,
        session_stay=stay,
    )
    ds = generate(cfg, seed=seed)
    g, ev, cut, t = ds.graph, ds.events, ds.meta["cut_time"], ds.truth
    n_pins = g.num_nodes["pin"]
    assert np.all(g.degree("pin")[t["pin_is_new"]] == 0)
    assert np.bincount(t["pin_topic"], minlength=16).min() >= 1
    assert np.array_equal(t["session_user"][t["event_session"]], ev.user)
    for et in FORWARD:
        assert g.csr(et).edge_data["timestamp"].max(initial=-1) < cut
    held = t["heldout_co_engaged"]
    keys = pair_keys(g.csr("co_engaged"), n_pins)
    assert not keys & set((held[:, 0] * n_pins + held[:, 1]).tolist())
    assert not keys & set((held[:, 1] * n_pins + held[:, 0]).tolist())
    assert isinstance(
        SyntheticConfig(
            **{
                **ds.meta["config"],
                **{k: tuple(v) for k, v in ds.meta["config"].items() if isinstance(v, list)},
            }
        ).validate(),
        SyntheticConfig,
    )
