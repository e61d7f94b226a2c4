"""New-entity encoding: known nodes and users get their exported vectors; new ones are encoded
on the graph with their edges added, exactly as an export of that graph would."""

from __future__ import annotations

import numpy as np
import pytest

from graphrep.data.dataset import GraphDataset
from graphrep.data.holdout_nodes import edges_touching, node_rows
from graphrep.embed.encode import Action, Encoder
from graphrep.embed.export import export_embeddings
from graphrep.errors import ConfigError, SchemaError
from graphrep.graph.extend import extend_graph
from graphrep.train.presets import preset


@pytest.fixture(scope="module")
def encoder(holdout, make_run, tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("enc") / "run", holdout.train)
    return run, Encoder.from_run(run.path)


def test_known_nodes_and_users_get_their_exported_vectors(encoder):
    _, enc = encoder
    emb = enc.embeddings
    for t in ("pin", "board", "query"):
        ids = emb.ids(t)[:50]
        np.testing.assert_allclose(enc.encode_known(t, ids), emb.lookup(t, ids), atol=1e-5)
    ev, cut = enc.dataset.events, enc.dataset.meta["cut_time"]
    seqs, users = [], [0, 7, 42]
    for u in users:
        rows = np.arange(*ev.user_offsets[u : u + 2])
        rows = rows[ev.timestamp[rows] < cut]
        seqs.append([Action(int(ev.item[r]), int(ev.timestamp[r]), "pin",
                            ev.action_names[ev.action[r]], int(ev.surface[r])) for r in rows])
    np.testing.assert_allclose(enc.encode_users(seqs), emb.lookup("user", users), atol=1e-5)


def test_new_pins_match_an_export_of_the_graph_with_them(holdout, encoder, tmp_path):
    _, enc = encoder
    held = holdout.held
    rows = node_rows(holdout.full.graph, "pin", held)
    edges = {}
    for et, e in edges_touching(holdout.full.graph, "pin", held).items():
        both = np.isin(e.src, held) & np.isin(e.dst, held)
        known = ~both if et[0] == et[2] else np.ones(len(e.src), bool)
        e.src, e.dst, e.data = e.src[known], e.dst[known], {}
        edges[et] = e
    # per new pin, its known neighbours by relation (the new pin is the pin end)
    lists = {}
    for et, e in edges.items():
        mine, other = (e.dst, e.src) if et[2] == "pin" and et[0] != "pin" else (e.src, e.dst)
        if et[0] == et[2] == "pin":  # co_engaged: held pin as source; as destination via rev_
            for name, me, ot in ((et[1], e.src, e.dst), (f"rev_{et[1]}", e.dst, e.src)):
                sel = np.isin(me, held)
                lists[name] = [ot[sel][me[sel] == p].tolist() for p in held]
            continue
        lists[et[1]] = [other[mine == p].tolist() for p in held]
    got = enc.encode_new("pin", rows.features, lists)
    ext = extend_graph(holdout.train.graph, {"pin": rows}, edges)
    ref = export_embeddings(enc.model, enc.config, GraphDataset(ext.graph, holdout.train.events, {},
                                                                 holdout.train.meta), tmp_path / "r")
    np.testing.assert_allclose(got, ref.vectors("pin")[held], atol=1e-5)
    # content only: finite unit vectors, different from the ones with edges
    alone = enc.encode_new("pin", rows.features)
    np.testing.assert_allclose(np.linalg.norm(alone, axis=1), 1, atol=1e-5)
    assert np.abs(alone - got).max() > 1e-3


def test_bad_new_nodes_are_named(encoder):
    _, enc = encoder
    with pytest.raises(SchemaError, match="image"):
        enc.encode_new("pin", {"text": [[1, 2]]})
    with pytest.raises(SchemaError, match="unencoded node type 'user'"):
        enc.encode_new("user", count=1)
    with pytest.raises(SchemaError, match="action 'jump'"):
        enc.encode_users([[Action(1, 5, "pin", "jump")]])


def test_content_free_new_nodes_need_edges(holdout, make_run, tmp_path):
    cfg = preset("tiny").override(["model.use_content=false"])
    run = make_run(tmp_path / "run", holdout.train, cfg)
    enc = Encoder.from_run(run.path)
    assert enc.model.id_tables["pin"].mode == "exact"
    with pytest.raises(ConfigError, match="needs at least one edge"):
        enc.encode_new("pin", count=1)
    z = enc.encode_new("pin", edges={"contains": [[0], [5, 6]]})
    assert np.isfinite(z).all() and np.abs(z[0] - z[1]).max() > 1e-3
