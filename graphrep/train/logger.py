"""Metric logs of a run: ``logs/metrics.csv`` and TensorBoard event files.

The CSV has one row per logged step (``step`` first, then the metrics of the
first logged row, sorted; a metric that first appears later, such as a validation
score, adds a column and leaves earlier rows empty there); TensorBoard gets the same scalars when the
``tensorboard`` package is installed (otherwise only the CSV is written). On
resume, rows after the checkpoint's step are dropped, so the log of a resumed
run reads as that of an uninterrupted one.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from graphrep.errors import GraphFormatError
from graphrep.utils.atomic import atomic_file


def read_metrics(path: str | os.PathLike) -> list[dict[str, float]]:
    """Rows of a ``metrics.csv`` as dicts of floats (``step`` as int)."""
    p = Path(path)
    if not p.is_file():
        return []
    try:
        with p.open(newline="", encoding="utf-8") as f:
            rows = []
            for row in csv.DictReader(f):
                parsed = {k: float(v) if v not in ("", None) else math.nan for k, v in row.items()}
                parsed["step"] = int(parsed["step"])
                rows.append(parsed)
    except (ValueError, TypeError, KeyError, csv.Error) as exc:  # UnicodeDecodeError too
        raise GraphFormatError(
            f"{str(p)!r} is not a graphrep metrics log ({exc!r}); move it away to start a new log"
        ) from None
    return rows


class MetricLogger:
    """Append scalar metrics to CSV (and TensorBoard).

    Args:
        directory: the run's ``logs`` directory.
        resume_step: keep only existing CSV rows with ``step <= resume_step``
            (``None``: start a new log).
        tensorboard: also write TensorBoard events (if the package is installed).
    """

    def __init__(
        self, directory: str | os.PathLike, resume_step: int | None = None, tensorboard: bool = True
    ) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.dir / "metrics.csv"
        self.columns: list[str] | None = None
        old = read_metrics(self.csv_path) if resume_step is not None else []
        kept = [r for r in old if r["step"] <= resume_step]
        if kept:
            self.columns = list(kept[0])
        with atomic_file(self.csv_path, "w") as f:
            if kept:
                w = csv.DictWriter(f, self.columns)
                w.writeheader()
                w.writerows(kept)
        self._tb: Any = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                self._tb = None
            else:
                self._tb = SummaryWriter(str(self.dir / "tensorboard"), purge_step=resume_step)

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        """Record ``metrics`` at ``step``."""
        row = {"step": int(step), **{k: float(v) for k, v in metrics.items()}}
        new_file = self.columns is None
        if self.columns is None:
            self.columns = ["step", *sorted(k for k in row if k != "step")]
        elif set(row) - set(self.columns):  # a metric logged for the first time (validation)
            self.columns += sorted(set(row) - set(self.columns))
            old = read_metrics(self.csv_path)
            with atomic_file(self.csv_path, "w") as f:
                w = csv.DictWriter(f, self.columns, restval="")
                w.writeheader()
                w.writerows(old)
        with self.csv_path.open("a", newline="") as f:
            w = csv.DictWriter(f, self.columns, extrasaction="ignore")
            if new_file:
                w.writeheader()
            w.writerow(row)
        if self._tb is not None:
            for k, v in row.items():
                if k != "step":
                    self._tb.add_scalar(k, v, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.flush()
            self._tb.close()
            self._tb = None
