"""``graphrep eval RUN``: score a run's exported embeddings (and optionally the baselines).

Results go to ``RUN/metrics.json``::

    {"protocol": {...}, "models": {"omnisage": {"tasks": {task: metrics}, "collapse": {...}},
                                   "<baseline>": {...}, ...},
     "wall_s": {"<model>": seconds}}
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from graphrep.embed.store import Embeddings
from graphrep.errors import ConfigError, GraphFormatError
from graphrep.eval.baselines import BASELINES, baseline_vectors, default_baselines
from graphrep.eval.protocols import evaluate_dataset, headline_metric
from graphrep.train.rundir import RunDir
from graphrep.utils.lock import RunLock


def evaluate_run(
    run: str | os.PathLike | RunDir,
    baselines: Sequence[str] = (),
    log: Any = None,
    link_head: bool | None = None,
) -> dict[str, Any]:
    """Evaluate ``RUN/embeddings`` (and each baseline in ``baselines``); write ``RUN/metrics.json``.

    Args:
        run: the run directory (trained and exported).
        baselines: names from :data:`graphrep.eval.baselines.BASELINES` (``"all"`` for all).
        log: optional ``print``-like callable for progress lines.
        link_head: also score link datasets with a link head (default: ``eval.link_head``
            of the run's config): the run's jointly trained Hadamard-MLP scorer when its
            link task has one, else OGB's head trained on the frozen embeddings.

    Raises:
        RunLockedError: another process is writing the run.
    """
    run = run if isinstance(run, RunDir) else RunDir(run)
    run.require()
    with RunLock(run.path):  # metrics.json and the baselines' runs are written here
        return _evaluate(run, baselines, log, link_head)


def _evaluate(run: RunDir, baselines: Sequence[str], log: Any, link_head: bool | None) -> dict[str, Any]:
    cfg = run.config()
    if link_head is not None:
        cfg.eval.link_head = bool(link_head)
    unknown = sorted(set(baselines) - {*BASELINES, "all"})
    if unknown:
        raise ConfigError(f"unknown baselines {unknown}; choose from {list(BASELINES)} or 'all'")
    if not run.embeddings.exists():
        raise GraphFormatError(
            f"run {str(run.path)!r} has no embeddings; run `graphrep embed {run.path}` first"
        )
    dataset = run.dataset(cfg)
    if list(baselines) == ["all"]:
        baselines = default_baselines(dataset)
    emb = Embeddings.load(run.embeddings)
    models: dict[str, Any] = {}
    wall: dict[str, float] = {}
    t0 = time.perf_counter()
    vectors = {t: emb.vectors(t) for t in emb.types}
    head = _trained_head(run, vectors, dataset) if cfg.eval.link_head else None
    models[cfg.name] = evaluate_dataset(vectors, dataset, cfg.eval, head)
    wall[cfg.name] = time.perf_counter() - t0
    previous = _previous(run)
    for name in baselines:
        if log is not None:
            log(f"baseline {name} ...")
        t0 = time.perf_counter()
        vectors = baseline_vectors(name, cfg, dataset, run.path / "baselines")
        models[name] = evaluate_dataset(vectors, dataset, cfg.eval)
        wall[name] = time.perf_counter() - t0
    for name, m in previous.get("models", {}).items():  # keep earlier baseline results
        models.setdefault(name, m)
        wall.setdefault(name, previous.get("wall_s", {}).get(name, float("nan")))
    result = {
        "protocol": {
            "dataset": dataset.meta.get("name"), "task": dataset.meta.get("task", "synthetic"),
            "headline": headline_metric(dataset, cfg.eval), "ks": cfg.eval.ks,
            "num_negatives": cfg.eval.num_negatives, "max_queries": cfg.eval.max_queries,
            "user_window": cfg.eval.user_window,
        },
        "models": models,
        "wall_s": wall,
    }  # fmt: skip
    run.write_json(run.metrics_path, result)
    return result


def _trained_head(run: RunDir, vectors: dict[str, Any], dataset: Any) -> Any:
    """The run's jointly trained link scorer on its exported vectors, or ``None``."""
    if dataset.meta.get("task") != "link_prediction":
        return None
    scorer = run.load_model().link_scorer()
    if scorer is None:
        return None
    from graphrep.eval.validation import pair_scorer

    return pair_scorer(scorer, vectors[dataset.meta.get("node_type", dataset.graph.node_types[0])])


def _previous(run: RunDir) -> dict[str, Any]:
    if not run.metrics_path.exists():
        return {}
    try:
        return run.read_json(run.metrics_path)
    except GraphFormatError:
        return {}
