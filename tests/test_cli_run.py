"""The main job's CLI contract on the tiny preset: train -> embed -> eval -> neighbors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from graphrep.cli import build_parser, main
from graphrep.cli_run import resolve_config
from graphrep.embed.store import Embeddings
from graphrep.train import preset


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


def test_embed_out_never_deletes_a_users_files(run, tmp_path, capsys):
    v = tmp_path / "v"
    v.mkdir()
    (v / "thesis.txt").write_text("years of work")
    assert main(["embed", str(run), "--out", str(v)]) == 2
    assert "not written by graphrep" in capsys.readouterr().err
    assert os.listdir(v) == ["thesis.txt"]
    out = tmp_path / "e"
    assert main(["embed", str(run), "--out", str(out), "--index", "none"]) == 0
    assert main(["embed", str(run), "--out", str(out), "--index", "none"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["embed", str(run), "--out", str(out), "--index", "none", "--overwrite"]) == 0


def test_resume_of_a_finished_run_says_so_and_changes_nothing(run, capsys):
    before = {p: p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}
    assert main(["train", "--out", str(run), "--resume", "--no-progress"]) == 0
    assert "already finished (8 steps" in capsys.readouterr().out
    assert {p: p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()} == before


def test_a_second_writer_gets_a_named_error(run, capsys):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from graphrep.utils.lock import RunLock\n"
         "with RunLock(sys.argv[1], command='graphrep train'):\n"
         "    print('locked', flush=True); sys.stdin.read()", str(run)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        for argv in (["train", "--out", str(run), "--resume"], ["embed", str(run)],
                     ["eval", str(run)]):  # fmt: skip
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert f"being written by process {holder.pid}" in err and "Traceback" not in err
    finally:
        holder.kill()
        holder.wait()


def test_ctrl_c_exits_130_naming_the_last_checkpoint(tmp_path, capsys, monkeypatch):
    import graphrep.train.trainer as trainer_mod

    real_save = trainer_mod.save_checkpoint

    def save_then_interrupt(directory, state, keep):
        real_save(directory, state, keep)
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer_mod, "save_checkpoint", save_then_interrupt)
    out = tmp_path / "r"
    assert main(["train", "--preset", "tiny", "--out", str(out), "--steps", "4", "--no-progress",
                 "--set", "train.checkpoint_every=2"]) == 130  # fmt: skip
    err = capsys.readouterr().err
    assert "interrupted" in err and "step_000000002.pt" in err and "--resume" in err
    assert not (out / ".graphrep.lock").exists()


def test_failed_starts_leave_nothing_and_name_the_problem(tmp_path, capsys, monkeypatch):
    out = tmp_path / "r"
    cases = [
        (["--set", "train.lr=.inf"], "train.lr' must be a finite number"),
        (["--set", "train.grad_clip=.nan"], "train.grad_clip' must be a finite number"),
        (["--graph", str(tmp_path / "nograph")], "nograph"),
    ]
    for extra, message in cases:
        assert main(["train", "--preset", "tiny", "--out", str(out), "--no-progress", *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
        assert not out.exists()
    (tmp_path / "bad.yaml").write_bytes(b"train: {steps: 2}  # caf\xe9\n")
    assert main(["train", "--preset", "tiny", "--out", str(out),
                 "--config", str(tmp_path / "bad.yaml")]) == 2  # fmt: skip
    assert "not UTF-8" in capsys.readouterr().err and not out.exists()


def test_a_full_disk_at_checkpoint_time_is_one_named_line(tmp_path, capsys, monkeypatch):
    import graphrep.train.checkpoint as ckpt

    def full(*a, **k):  # what torch's zip writer raises when the disk fills up
        raise RuntimeError("[enforce fail at inline_container.cc:778] . PytorchStreamWriter "
                           "failed writing file data/3: file write failed")  # fmt: skip

    monkeypatch.setattr(ckpt.torch, "save", full)
    out = tmp_path / "r"
    assert main(["train", "--preset", "tiny", "--out", str(out), "--steps", "2",
                 "--no-progress"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "step_000000002.pt" in err and "free space" in err


def test_config_prints_the_resolved_config_commented(tmp_path, capsys):
    assert main(["config", "--preset", "default", "--set", "train.steps=7"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# graphrep ") and "preset 'default'" in text.splitlines()[0]
    assert "  # peak learning rate of AdamW" in text  # a field, its meaning above
    assert "  steps: 7\n  # peak learning rate of AdamW" in text
    expected = preset("default").override(["train.steps=7"])
    assert yaml.safe_load(text) == expected.to_dict()
    # the printed file is a --config file that gives the same run config
    (tmp_path / "run.yaml").write_text(text)
    args = build_parser().parse_args(["train", "--preset", "tiny", "--config",
                                      str(tmp_path / "run.yaml"), "--out", str(tmp_path / "r")])  # fmt: skip
    assert resolve_config(args) == expected


def test_config_of_a_dataset_preset_and_bad_override(capsys):
    assert main(["config", "--dataset", "cora"]) == 0
    out = capsys.readouterr().out
    assert "preset 'cora'" in out and "dataset: cora" in out and "- name: mae" in out and "- name: cca" in out
    assert main(["config", "--set", "train.lrr=1"]) == 2
    assert "train.lrr" in capsys.readouterr().err
