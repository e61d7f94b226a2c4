"""The results table: one row per model, recall@k per task and the collapse detectors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def results_table(
    models: Mapping[str, Mapping[str, Any]], metric: str = "recall@10", extra: Sequence[str] = ()
) -> str:
    """A Markdown table: rows = models, columns = ``metric`` of every task then ``extra``
    collapse metrics (e.g. ``pin_topic_purity@10``); the best value per column is bold."""
    tasks: list[str] = []
    for m in models.values():
        tasks += [t for t in m.get("tasks", {}) if t not in tasks]
    columns = [f"{t} {metric}" for t in tasks] + list(extra)

    def value(m: Mapping[str, Any], col: int) -> float | None:
        if col < len(tasks):
            return m.get("tasks", {}).get(tasks[col], {}).get(metric)
        return m.get("collapse", {}).get(extra[col - len(tasks)])

    best = []
    for c in range(len(columns)):
        vals = [v for m in models.values() if (v := value(m, c)) is not None]
        best.append(max(vals) if vals else None)
    lines = ["| model | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, m in models.items():
        cells = []
        for c in range(len(columns)):
            v = value(m, c)
            cell = "–" if v is None else f"{v:.4f}"
            cells.append(f"**{cell}**" if v is not None and v == best[c] and len(models) > 1 else cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
