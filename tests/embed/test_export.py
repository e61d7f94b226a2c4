"""Export: every type and user embedded, batch-size invariant, reproducible, ids kept."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrep.data.synthetic import generate
from graphrep.embed.export import export_embeddings
from graphrep.embed.inference import embed_nodes, embed_users
from graphrep.errors import ConfigError
from graphrep.samplers.sequences import SequenceSampler
from graphrep.train.build import build
from graphrep.train.presets import preset


@pytest.fixture(scope="module")
def env():
    ds = generate("tiny", 0)
    cfg = preset("tiny")
    return ds, cfg, build(cfg, ds)


def test_export_every_type_and_user(env, tmp_path):
    ds, cfg, c = env
    emb = export_embeddings(c.model, cfg, ds, tmp_path / "e", index="flat")
    assert set(emb.types) == {"pin", "board", "query", "user"}
    for t in emb.types:
        assert emb.count(t) == ds.graph.num_nodes[t]
        np.testing.assert_array_equal(emb.ids(t), ds.graph.external_ids(t))
    norms = np.linalg.norm(emb.vectors("pin"), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    assert emb.meta["config_digest"] == cfg.digest()
    again = export_embeddings(c.model, cfg, ds, tmp_path / "e2", index="none")
    np.testing.assert_array_equal(emb.vectors("pin"), again.vectors("pin"))
    np.testing.assert_array_equal(emb.vectors("user"), again.vectors("user"))
    res = emb.neighbors("user", [int(emb.ids("user")[0])], k=5, target_type="pin", index="faiss")
    assert res.ids.shape == (1, 5)
    # users were embedded from the exported pin vectors: the same as encoding the history
    cut = ds.meta["cut_time"]
    encoded = np.concatenate(list(embed_users(c.model, c.builder, ds.events, cut, 12)))
    np.testing.assert_allclose(emb.vectors("user"), encoded, atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e", "e2"]  # scratch tables removed


def test_users_from_precomputed_item_vectors(env):
    ds, _, c = env
    cut = ds.meta["cut_time"]
    pins = np.concatenate(list(embed_nodes(c.model, c.builder, "pin")))
    encoded = np.concatenate(list(embed_users(c.model, c.builder, ds.events, cut, 12)))
    looked_up = np.concatenate(list(embed_users(c.model, c.builder, ds.events, cut, 12,
                                                item_vectors={"pin": pins})))  # fmt: skip
    np.testing.assert_allclose(looked_up, encoded, atol=1e-5)
    assert np.abs(encoded).sum() > 0
    with pytest.raises(ConfigError, match="type 'pin' have no precomputed"):
        next(embed_users(c.model, c.builder, ds.events, cut, 12, item_vectors={"board": pins}))


def test_batch_size_does_not_change_embeddings(env):
    ds, _, c = env
    one = np.concatenate(list(embed_nodes(c.model, c.builder, "board", batch_size=1000)))
    many = np.concatenate(list(embed_nodes(c.model, c.builder, "board", batch_size=7)))
    np.testing.assert_allclose(one, many, atol=1e-5)
    cut = ds.meta["cut_time"]
    u1 = np.concatenate(list(embed_users(c.model, c.builder, ds.events, cut, 12, batch_size=1000)))
    u2 = np.concatenate(list(embed_users(c.model, c.builder, ds.events, cut, 12, batch_size=9)))
    np.testing.assert_allclose(u1, u2, atol=1e-5)


def test_users_without_history_get_zero_vectors(env):
    ds, _, c = env
    cut = int(np.asarray(ds.events.timestamp).min())  # nobody has acted before this
    z = np.concatenate(list(embed_users(c.model, c.builder, ds.events, cut, 12)))
    assert z.shape == (ds.events.num_users, c.model.dim) and not z.any()


def test_users_without_sequence_encoder_are_history_means(env):
    ds, cfg, _ = env
    cfg2 = cfg.override(["model.sequence=false", "tasks.specs=[{name: p, kind: entity_entity, "
                         "relation: co_engaged}]"])  # fmt: skip
    c = build(cfg2, ds)
    cut = ds.meta["cut_time"]
    users = np.concatenate(list(embed_users(c.model, c.builder, ds.events, cut, 12)))
    pins = np.concatenate(list(embed_nodes(c.model, c.builder, "pin")))
    looked_up = embed_users(c.model, c.builder, ds.events, cut, 12, item_vectors={"pin": pins})
    np.testing.assert_allclose(np.concatenate(list(looked_up)), users, atol=1e-5)
    hist = SequenceSampler(ds.events, 12, cut, 1).eval_batch(np.arange(5), cut, 1)
    for u in range(5):
        items = hist.items[u][hist.mask[u]].numpy()
        if len(items) == 0:
            continue
        want = pins[items].mean(0)
        np.testing.assert_allclose(users[u], want / np.linalg.norm(want), atol=1e-4)
    assert torch.is_grad_enabled()  # inference left autograd as it found it


def test_a_re_export_supersedes_the_versions_refreshed_on_the_previous_one(held_run, caplog):
    from graphrep.embed.changes import Changes
    from graphrep.embed.export import export_run
    from graphrep.embed.refresh import refresh_run
    from graphrep.embed.store import Embeddings
    from graphrep.embed.versions import current_version, embeddings_path, open_state
    from graphrep.graph.extend import EdgeRows

    refresh_run(held_run.path, Changes(edges={"clicked": EdgeRows([3], [7])}), scope="local")
    old_uid = Embeddings.load(embeddings_path(held_run.path, 0)).uid
    with caplog.at_level("WARNING"):
        export_run(held_run.path)
    moved = held_run.path / "versions.superseded-1"
    assert "superseded" in caplog.text and (moved / "000001" / "changes").is_dir()
    assert (moved / "CURRENT").is_file()  # nothing deleted
    assert current_version(held_run.path) == 0  # readers see the new export
    assert Embeddings.load(embeddings_path(held_run.path)).uid != old_uid
    assert open_state(held_run.path).version == 0
    r = refresh_run(held_run.path, Changes.read(moved / "000001" / "changes"), scope="local")
    assert r.version == 1 and r.stored == "delta"  # numbering starts again on the new export
    export_run(held_run.path)
    assert (held_run.path / "versions.superseded-2" / "000001").is_dir()
    refresh_run(held_run.path, Changes(), scope="local")
    export_run(held_run.path, held_run.path / "elsewhere")  # another directory: versions untouched
    assert current_version(held_run.path) == 1
