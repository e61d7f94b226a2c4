"""The main job's CLI contract on the tiny preset: train -> embed -> eval -> neighbors."""

from __future__ import annotations

import json

import pytest

from graphrep.cli import main
from graphrep.embed.store import Embeddings


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", "--preset", "tiny", "--out", str(out), "--steps", "8",
                 "--set", "train.checkpoint_every=4", "--no-progress"]) == 0  # fmt: skip
    return out


def test_train_writes_a_run(run, capsys):
    assert (run / "model.pt").is_file() and (run / "config.yaml").is_file()
    assert (run / "data").is_dir()  # the generated synthetic graph is kept for embed/eval


def test_embed_eval_neighbors(run, capsys):
    assert main(["embed", str(run)]) == 0
    emb = Embeddings.load(run / "embeddings")
    assert set(emb.types) == {"pin", "board", "query", "user"}
    assert main(["eval", str(run)]) == 0
    out = capsys.readouterr().out
    assert "| omnisage |" in out and "pin→pin recall@10" in out
    metrics = json.loads((run / "metrics.json").read_text())
    task = metrics["models"]["omnisage"]["tasks"]["user→pin"]
    assert 0 <= task["recall@10"] <= 1 and task["num_queries"] > 0
    assert main(["neighbors", str(run), "--type", "user", "--id", "3", "-k", "5",
                 "--target-type", "pin", "--json"]) == 0  # fmt: skip
    res = json.loads(capsys.readouterr().out)
    assert res["target_type"] == "pin" and len(res["neighbors"]) == 5
    scores = [n["score"] for n in res["neighbors"]]
    assert scores == sorted(scores, reverse=True)


def test_existing_run_needs_resume(run, capsys):
    assert main(["train", "--preset", "tiny", "--out", str(run), "--no-progress"]) == 2
    assert "--resume" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["eval", "{tmp}/missing"], "does not exist"),
        (["embed", "{tmp}"], "not a graphrep run directory"),
        (["train", "--out", "{tmp}/r", "--set", "train.lr=fast"], "train.lr"),
        (["train", "--out", "{tmp}/r", "--config", "{tmp}/nope.yaml"], "nope.yaml"),
        (["train", "--out", "{tmp}/r2", "--resume"], "does not exist"),
        (["train", "--graph", "{tmp}/nograph", "--out", "{tmp}/r3", "--steps", "1"], "nograph"),
        (["train", "--dataset", "nosuch", "--out", "{tmp}/r4"], "data.dataset"),
        (["train", "--dataset", "cora", "--out", "{tmp}/r5"], "--root"),
        (["train", "--dataset", "cora", "--root", "{tmp}/empty", "--out", "{tmp}/r6",
          "--cache-dir", "{tmp}/cache"], "empty"),
    ],
)
def test_errors_are_clear(tmp_path, capsys, argv, message):
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_corrupt_run_directory(run, tmp_path, capsys):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(run, bad)
    (bad / "model.pt").write_bytes(b"not a checkpoint")
    assert main(["embed", str(bad)]) == 2
    assert "corrupt" in capsys.readouterr().err
    (bad / "config.yaml").write_text("train: {steps: -1}\n")
    assert main(["embed", str(bad)]) == 2
    assert "train.steps" in capsys.readouterr().err


def test_neighbors_unknown_id(run, capsys):
    if not (run / "embeddings").exists():
        assert main(["embed", str(run)]) == 0
    assert main(["neighbors", str(run), "--type", "pin", "--id", "999999"]) == 2
    assert "999999" in capsys.readouterr().err


def test_embed_update_publishes_a_version_neighbors_reads_it(holdout, make_run, tmp_path, capsys):
    from graphrep.data.holdout_nodes import edges_touching, node_rows
    from graphrep.embed.changes import Changes

    run = make_run(tmp_path / "run", holdout.train)
    held = holdout.held[:2]
    changes = Changes({"pin": node_rows(holdout.full.graph, "pin", held)},
                      {"contains": edges_touching(holdout.full.graph, "pin", held)[
                          ("board", "contains", "pin")]})  # fmt: skip
    (tmp_path / "changes").mkdir()
    changes.write(tmp_path / "changes")
    capsys.readouterr()
    assert main(["embed", str(run.path), "--update", str(tmp_path / "changes")]) == 0
    out = capsys.readouterr().out
    assert "version 1" in out and "pin" in out
    assert main(["neighbors", str(run.path), "--type", "pin", "--id", str(held[0]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["neighbors"]
    assert main(["embed", str(run.path), "--update", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
