"""Incremental refresh equals a full export of the changed state, encoding only what changed."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from graphrep.data.dataset import GraphDataset
from graphrep.data.holdout_nodes import edges_touching, node_rows
from graphrep.embed.changes import ActionRows, Changes
from graphrep.embed.export import export_embeddings
from graphrep.embed.refresh import refresh_run, refresh_state
from graphrep.embed.store import Embeddings
from graphrep.embed.versions import current_version, embeddings_path, open_state
from graphrep.graph.extend import EdgeRows


def _held_changes(h) -> Changes:
    """The held-out pins, their edges and their actions before the cut."""
    full = h.full
    ev, cut = full.events, full.meta["cut_time"]
    sel = (ev.item_type == 0) & (ev.item >= h.held[0]) & (ev.timestamp < cut)
    acts = ActionRows(ev.user[sel], ev.item[sel], ev.timestamp[sel], ev.item_type[sel],
                      ev.action[sel], ev.surface[sel], ev.duration[sel])
    edges = {et[1]: e for et, e in edges_touching(full.graph, "pin", h.held).items()}
    return Changes({"pin": node_rows(full.graph, "pin", h.held)}, edges, acts)


def _assert_same(a: Embeddings, b: Embeddings, atol: float = 1e-5) -> None:
    assert a.types == b.types
    for t in a.types:
        np.testing.assert_array_equal(a.ids(t), b.ids(t))
        np.testing.assert_allclose(a.vectors(t), b.vectors(t), atol=atol, err_msg=t)


def test_refresh_equals_a_full_export_of_the_changed_graph(holdout, held_run, tmp_path):
    changes = _held_changes(holdout)
    (tmp_path / "changes").mkdir()
    changes.write(tmp_path / "changes")  # through the tables, as the CLI reads them
    report = refresh_run(held_run.path, Changes.read(tmp_path / "changes"))
    assert report.version == 1 == current_version(held_run.path)
    state = open_state(held_run.path)
    assert state.dataset.graph.equals(holdout.full.graph)
    ref = export_embeddings(state.model, state.config, GraphDataset(
        holdout.full.graph, holdout.full.events, {}, holdout.full.meta), tmp_path / "ref")
    new = Embeddings.load(embeddings_path(held_run.path))
    _assert_same(new, ref)
    for k, v in ref.row_arrays("pin").items():  # the stored neighbourhoods too
        np.testing.assert_array_equal(new.row_arrays("pin")[k], v)
    assert report.types["pin"]["new"] == 10 and report.types["pin"]["encoded"] >= 10
    assert report.types["user"]["encoded"] > 0
    # the index now holds the new pins
    res = new.neighbors("pin", [holdout.held[0]], k=3, index="faiss")
    assert res.ids.shape == (1, 3)


def test_a_small_change_encodes_only_the_nodes_it_reaches(held_run, tmp_path):
    before = Embeddings.load(embeddings_path(held_run.path))
    report = refresh_run(held_run.path, Changes(edges={"clicked": EdgeRows([3], [7])}))
    after = Embeddings.load(embeddings_path(held_run.path))
    pin, query = report.types["pin"], report.types["query"]
    assert 0 < query["encoded"] < query["total"] and pin["encoded"] < pin["total"]
    moved = np.flatnonzero(np.abs(after.vectors("query") - before.vectors("query")).max(1) > 0)
    assert 3 in moved and len(moved) <= query["encoded"]
    # unaffected rows are bit-identical copies
    same = np.setdiff1d(np.arange(query["total"]), moved)
    np.testing.assert_array_equal(after.vectors("query")[same], before.vectors("query")[same])


def test_empty_changes_reencode_nothing_and_versions_chain(held_run):
    r1 = refresh_run(held_run.path, Changes())
    assert all(c["encoded"] == 0 for c in r1.types.values())
    _assert_same(Embeddings.load(embeddings_path(held_run.path, 1)),
                 Embeddings.load(embeddings_path(held_run.path, 0)), atol=0)
    r2 = refresh_run(held_run.path, Changes(edges={"contains": EdgeRows([0], [1])}))
    assert r2.version == 2 and open_state(held_run.path).version == 2


def test_an_action_older_than_the_last_m_changes_no_user(holdout, held_run):
    ev = open_state(held_run.path).dataset.events
    m = open_state(held_run.path).config.model.seq_max_len
    user = int(np.flatnonzero(np.diff(ev.user_offsets) > m)[0])
    oldest = int(ev.timestamp[ev.user_offsets[user]])
    before = Embeddings.load(embeddings_path(held_run.path)).vectors("user")
    report = refresh_run(held_run.path, Changes(actions=ActionRows([user], [0], [oldest - 1])))
    assert report.types["user"]["encoded"] == 0
    np.testing.assert_array_equal(Embeddings.load(embeddings_path(held_run.path)).vectors("user"),
                                  before)


def test_new_user_actions_after_the_cut(holdout, held_run):
    from graphrep.embed.encode import Action, Encoder

    cut = holdout.full.meta["cut_time"]
    acts = ActionRows(np.array([5, 5, 10_000]), np.array([1, 2, 3]), np.array([cut + 10, cut + 20, 7]))
    report = refresh_run(held_run.path, Changes(actions=acts))
    assert report.types["user"]["new"] == 1 and report.types["user"]["encoded"] == 2
    state = open_state(held_run.path)
    assert state.user_time[5] == cut + 21 and state.user_time[-1] == cut
    enc = Encoder.from_run(held_run.path)
    ev = state.dataset.events
    rows = np.arange(*ev.user_offsets[5:7])[-state.config.model.seq_max_len:]
    seq = [Action(int(ev.item[r]), int(ev.timestamp[r]), "pin", int(ev.action[r]), int(ev.surface[r]))
           for r in rows]
    got = Embeddings.load(embeddings_path(held_run.path)).lookup("user", [5])
    np.testing.assert_allclose(got, enc.encode_users([seq]), atol=1e-5)


def test_bad_changes_are_named(held_run, tmp_path):
    bad = tmp_path / "changes"
    bad.mkdir()
    (bad / "notes.txt").write_text("x")
    with pytest.raises(OSError, match="not a changes table"):
        Changes.read(bad)
    with pytest.raises(KeyError, match="relation"):
        refresh_run(held_run.path, Changes(edges={"nope": EdgeRows([0], [1])}))
    assert current_version(held_run.path) == 0


def _rows_equal(a: Embeddings, b: Embeddings, t: str, rows: np.ndarray, atol: float | None) -> None:
    """Vectors (and stored neighbourhoods) of ``rows`` of ``t``: equal within ``atol``, or bit
    for bit when ``atol`` is None."""
    if atol is None:
        np.testing.assert_array_equal(a.vectors(t)[rows], b.vectors(t)[rows], err_msg=t)
    else:
        np.testing.assert_allclose(a.vectors(t)[rows], b.vectors(t)[rows], atol=atol, err_msg=t)
    for k, v in b.row_arrays(t).items():
        np.testing.assert_array_equal(a.row_arrays(t)[k][rows], v[rows], err_msg=f"{t} {k}")


def _endpoints(h, changes: Changes, ref: Embeddings) -> tuple[dict[str, set], dict[str, set]]:
    """Hand count of local scope's (a) + (c) on the tiny graph: (re-encoded, sampled again)
    per type. Sampled again: every old endpoint of a new edge on the side whose row the
    type's walks read (pins walk rev_contains, rev_engaged and co_engaged; boards contains;
    queries clicked). Re-encoded: the new pins, and those endpoints whose neighbourhood on
    the new graph (the full export's) holds the edge's other end, or all of them where that
    end's type is not a neighbour type (a pin's engaged users)."""
    g = h.full.graph
    out = {"pin": set(h.held.tolist()), "board": set(), "query": set()}
    ends: dict[str, set] = {"pin": set(), "board": set(), "query": set()}

    def reach(t: str, me: np.ndarray, other_t: str, other: np.ndarray) -> None:
        old = me < h.train.graph.num_nodes[t]
        me, other = me[old], other[old]
        ends[t] |= set(me.tolist())
        key = f"nbr.{other_t}.ids"
        rows = ref.row_arrays(t)
        hit = (rows[key][me] == other[:, None]).any(1) if key in rows else np.ones(len(me), bool)
        out[t] |= set(me[hit].tolist())

    for rel, e in changes.edges.items():
        src, dst = g.edge_type(rel)[0], g.edge_type(rel)[2]
        s_ids, d_ids = g.index_of(src, np.asarray(e.src)), g.index_of(dst, np.asarray(e.dst))
        if rel in ("contains", "clicked"):
            reach(src, s_ids, dst, d_ids)
        if rel in ("contains", "engaged"):
            reach("pin", d_ids, src, s_ids)  # the pin's rev_contains / rev_engaged row
        if rel == "co_engaged":
            reach("pin", s_ids, "pin", d_ids)
    return out, ends


@pytest.mark.parametrize("user_history", [True, False])
def test_local_scope_reencodes_the_changed_nodes_and_copies_the_rest(holdout, held_run, tmp_path,
                                                                     user_history):
    changes = _held_changes(holdout)
    before = Embeddings.load(embeddings_path(held_run.path))
    report = refresh_run(held_run.path, changes, scope="local", user_history=user_history)
    assert report.scope == "local" and report.version == 1 == current_version(held_run.path)
    state = open_state(held_run.path)
    assert state.dataset.graph.equals(holdout.full.graph)
    new = Embeddings.load(embeddings_path(held_run.path))
    ref = export_embeddings(state.model, state.config, GraphDataset(
        holdout.full.graph, holdout.full.events, {}, holdout.full.meta), tmp_path / "ref")
    expect, ends = _endpoints(holdout, changes, ref)
    assert any(ends[t] - expect[t] for t in ends), "some endpoints' new edges stay outside"
    for t, ids in expect.items():
        ids = np.array(sorted(ids), dtype=np.int64)
        assert report.types[t]["encoded"] == len(ids) < report.types[t]["total"], t
        assert report.types[t]["candidates"] == len(ends[t]), t
        # re-encoded rows see the new graph exactly as a full export does...
        _rows_equal(new, ref, t, ids, atol=1e-5)
        # ...and every other row is the previous version's, bit for bit
        kept = np.setdiff1d(np.arange(before.count(t)), ids)
        _rows_equal(new, before, t, kept, atol=None)
    # users: (d) a new action among their last M, plus (e) a re-encoded pin among them
    ev, old, m = state.dataset.events, open_state(held_run.path, 0).dataset.events, \
        state.config.model.seq_max_len
    window = lambda log, u: log.item[log.user_offsets[u]:log.user_offsets[u + 1]][-m:]  # noqa: E731
    acted = {u for u in np.unique(changes.actions.user).tolist()
             if not np.array_equal(window(ev, u), window(old, u))}
    assert 0 < len(acted) < len(np.unique(changes.actions.user))  # some actions are older
    hist = {u for u in range(ev.num_users) if set(window(ev, u).tolist()) & expect["pin"]}
    users = np.array(sorted(acted | hist if user_history else acted), dtype=np.int64)
    assert hist - acted, "the change set reaches users only through their history"
    assert report.types["user"]["encoded"] == len(users)
    kept = np.setdiff1d(np.arange(before.count("user")), users)
    np.testing.assert_array_equal(new.vectors("user")[kept], before.vectors("user")[kept])
    # the indexes hold the new version's vectors (new pins added, re-encoded rows replaced)
    for t, rows in (("pin", expect["pin"]), ("board", expect["board"]), ("user", users)):
        index = new.faiss_index(t)
        assert index.ntotal == new.count(t)
        got = np.stack([index.reconstruct(int(r)) for r in sorted(rows)])
        np.testing.assert_array_equal(got, new.vectors(t)[sorted(rows)], err_msg=t)


def test_refresh_scope_is_checked_and_named(held_run, tmp_path, capsys):
    from graphrep.cli import main
    from graphrep.errors import ConfigError
    from graphrep.train.output_config import EmbedConfig

    with pytest.raises(ConfigError, match=r"embed\.refresh_scope.*\['exact', 'local'\].*'nearby'"):
        refresh_run(held_run.path, Changes(), scope="nearby")
    with pytest.raises(ConfigError, match=r"embed\.refresh_scope"):
        EmbedConfig(refresh_scope="nearby")
    (tmp_path / "changes").mkdir()
    assert main(["embed", str(held_run.path), "--update", str(tmp_path / "changes"),
                 "--scope", "nearby"]) == 2
    assert "--scope" in capsys.readouterr().err
    assert main(["embed", str(held_run.path), "--scope", "local"]) == 2
    assert current_version(held_run.path) == 0
    assert main(["embed", str(held_run.path), "--update", str(tmp_path / "changes"),
                 "--scope", "local"]) == 0
    assert "local scope" in capsys.readouterr().out and current_version(held_run.path) == 1


def test_an_exact_refresh_on_top_of_a_local_one_is_exact_again(holdout, held_run, tmp_path):
    refresh_run(held_run.path, _held_changes(holdout), scope="local")
    assert Embeddings.load(embeddings_path(held_run.path)).meta["exact"] is False
    report = refresh_run(held_run.path, Changes(), scope="exact")  # nothing new, stale rows
    assert report.version == 2 and all(c["encoded"] == c["total"] for c in report.types.values())
    state = open_state(held_run.path)
    ref = export_embeddings(state.model, state.config, GraphDataset(
        holdout.full.graph, holdout.full.events, {}, holdout.full.meta), tmp_path / "ref")
    new = Embeddings.load(embeddings_path(held_run.path))
    assert new.meta["exact"] is True
    _assert_same(new, ref)
    # and the next exact refresh is incremental again
    assert refresh_run(held_run.path, Changes()).types["pin"]["encoded"] == 0


@pytest.mark.parametrize("use_content", [True, False])
def test_local_scope_reencodes_a_content_free_node_whose_degree_changed(holdout, make_run, tmp_path,
                                                                        use_content):
    from graphrep.train.presets import preset

    cfg = preset("tiny").override(["embed.index=hnsw", f"model.use_content={str(use_content).lower()}"])
    run = make_run(tmp_path / "run", holdout.train, cfg)
    before = Embeddings.load(embeddings_path(run.path))
    # query 3 clicks pin 7: the query's own `clicked` row changed (c); the pin's walks never
    # read its `rev_clicked` row, but without content its log-degree token changed (b)
    report = refresh_run(run.path, Changes(edges={"clicked": EdgeRows([3], [7])}), scope="local")
    after = Embeddings.load(embeddings_path(run.path))
    assert report.types["query"]["encoded"] == 1 and report.types["board"]["encoded"] == 0
    assert report.types["pin"]["encoded"] == (0 if use_content else 1)
    moved = np.flatnonzero((after.vectors("pin") != before.vectors("pin")).any(1))
    assert moved.tolist() == ([] if use_content else [7])


def test_local_scope_reencodes_an_endpoint_whose_new_neighbour_type_it_does_not_carry(held_run):
    from graphrep.train.build import build_inputs

    state = open_state(held_run.path)
    sampler = build_inputs(state.config, state.dataset).samplers["pin"]
    assert "user" not in sampler.quotas  # a pin's walks read rev_engaged, its neighbourhood has no users
    assert any(et[1] == "rev_engaged" for mp in sampler.metapaths for et in mp.edge_types)
    before = Embeddings.load(embeddings_path(held_run.path)).vectors("pin")
    # user 2 engages with pin 7: whether that reaches the pin's top neighbours cannot be read
    # off its neighbourhood, so the pin is re-encoded
    report = refresh_run(held_run.path, Changes(edges={"engaged": EdgeRows([2], [7])}), scope="local")
    assert report.types["pin"]["candidates"] == 1 == report.types["pin"]["encoded"]
    after = Embeddings.load(embeddings_path(held_run.path)).vectors("pin")
    assert np.flatnonzero((after != before).any(1)).tolist() in ([], [7])


def test_refresh_state_chains_in_memory_as_refresh_run_does_from_disk(holdout, held_run):
    from graphrep.errors import ConfigError

    cold = held_run.path.parent / "cold"
    shutil.copytree(held_run.path, cold)
    state = open_state(held_run.path)
    steps = [_held_changes(holdout), Changes(edges={"clicked": EdgeRows([3], [7])})]
    for i, changes in enumerate(steps, start=1):
        report, state = refresh_state(state, changes, scope="local")
        refresh_run(cold, changes, scope="local")
        assert report.version == state.version == current_version(held_run.path) == i
        assert report.wall_s["load"] == 0 and report.stored == "delta"
        assert state.embeddings.path == embeddings_path(held_run.path)
        fresh = open_state(held_run.path)  # what the next process would load
        assert fresh.dataset.graph.equals(state.dataset.graph)
        np.testing.assert_array_equal(fresh.user_time, state.user_time)
        _assert_same(state.embeddings, fresh.embeddings, atol=0)
        _assert_same(state.embeddings, Embeddings.load(embeddings_path(cold)), atol=0)
    refresh_run(held_run.path, Changes())  # another process publishes version 3
    with pytest.raises(ConfigError, match="version 3 exists already"):
        refresh_state(state, Changes())
