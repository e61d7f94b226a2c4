"""Evaluation: retrieval metrics, collapse detectors, linear probe, held-out tasks, baselines."""

from graphrep.eval.collapse import cosine_kurtosis, interest_entropy, p90_coverage, topic_purity
from graphrep.eval.holdout import RetrievalTask, future_task, pair_task, synthetic_tasks
from graphrep.eval.probe import ProbeResult, linear_probe, probe_over_seeds
from graphrep.eval.retrieval import (
    full_rank_metrics,
    full_rank_per_query,
    group_pairs,
    sampled_metrics,
)

__all__ = [
    "ProbeResult",
    "RetrievalTask",
    "cosine_kurtosis",
    "full_rank_metrics",
    "full_rank_per_query",
    "future_task",
    "group_pairs",
    "interest_entropy",
    "linear_probe",
    "p90_coverage",
    "pair_task",
    "probe_over_seeds",
    "sampled_metrics",
    "synthetic_tasks",
    "topic_purity",
]
