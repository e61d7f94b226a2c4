"""Argument checks shared by the samplers.

Each check raises :class:`~graphrep.errors.ConfigError` naming the argument and
the accepted range, so a bad hyper-parameter fails at construction with a
message that says what to change.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from graphrep.errors import ConfigError, SchemaError


def check_int(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as a Python ``int`` after checking it is an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_optional_int(value: Any, name: str, minimum: int = 1) -> int | None:
    """Like :func:`check_int` but ``None`` passes through (meaning "no limit")."""
    return None if value is None else check_int(value, name, minimum)


def check_float(
    value: Any,
    name: str,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite ``float`` inside ``[low, high]`` (ends open when asked)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    v = float(value)
    bad_low = v <= low if low_open else v < low
    bad_high = v >= high if high_open else v > high
    if not np.isfinite(v) or bad_low or bad_high:
        lb, hb = ("(" if low_open else "["), (")" if high_open else "]")
        raise ConfigError(f"{name} must be in {lb}{low}, {high}{hb}, got {value!r}")
    return v


def check_seed(seed: Any) -> int:
    """A seed is an integer in ``[0, 2**63)`` (it feeds the counter-based RNG)."""
    return check_int(seed, "seed", minimum=0)


class StepCounter:
    """Hands out ``0, 1, 2, ...`` for calls that do not pass an explicit ``step``.

    Samplers key their random streams on ``(seed, step)``; an explicit ``step``
    makes a call reproducible on its own, while ``step=None`` takes the next
    value of this counter so consecutive calls draw fresh samples (and a fresh
    sampler with the same seed replays the same sequence).
    """

    def __init__(self) -> None:
        self._counter = itertools.count()

    def resolve(self, step: int | None) -> int:
        if step is None:
            return next(self._counter)
        return check_int(step, "step", minimum=0)


def node_count(graph: Any, node_type: str, what: str) -> int:
    """Number of nodes of ``node_type`` in ``graph``; unknown types raise ``SchemaError``."""
    if node_type not in graph.num_nodes:
        raise SchemaError(
            f"{what}: unknown node type {node_type!r}; graph has {sorted(graph.num_nodes)}"
        )
    return int(graph.num_nodes[node_type])
