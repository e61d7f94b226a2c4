"""Model selection during training: validate every few epochs, keep the best, stop on a plateau.

A :class:`Validator` scores the model on a validation split carved from the
training data (:func:`graphrep.data.splits.carve_validation`, or Planetoid's
validation nodes), never the test split; higher is better. :class:`EarlyStopping`
tracks the best score and the validations since it last improved: with
``patience = P > 0`` training stops after ``P`` validations without improvement,
and in every case the best model -- not the last -- is the one the run keeps. Its
state is part of every checkpoint, so a resumed run continues the same selection.

The validators themselves embed and score (they need :mod:`graphrep.embed` and
:mod:`graphrep.eval`, which sit downstream of training): the trainer receives one
(``Trainer(..., validator=...)``) or asks :func:`graphrep.eval.validation.validator_for`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from torch import nn


class Validator(Protocol):
    """Scores a model on validation data (higher is better)."""

    metric: str

    def __call__(self, model: nn.Module, builder: Any) -> float:
        """The validation score of ``model`` with inputs from ``builder`` (an ``InputBuilder``)."""
        ...


@dataclass
class EarlyStopping:
    """Best-score tracking with patience (see the module docstring).

    Args:
        patience: validations without improvement before :attr:`should_stop` (0: never).
        min_delta: an improvement must exceed the best by more than this.
    """

    patience: int = 0
    min_delta: float = 0.0
    best: float = -math.inf
    best_step: int = -1
    bad: int = 0
    history: list[list[float]] = field(default_factory=list)

    def update(self, step: int, value: float) -> bool:
        """Record the score ``value`` at ``step``; returns whether it is a new best."""
        self.history.append([int(step), float(value)])
        if math.isfinite(value) and value > self.best + self.min_delta:
            self.best, self.best_step, self.bad = float(value), int(step), 0
            return True
        self.bad += 1
        return False

    @property
    def should_stop(self) -> bool:
        """``patience`` validations in a row brought no improvement."""
        return self.patience > 0 and self.bad >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_step": self.best_step, "bad": self.bad,
                "history": [list(h) for h in self.history]}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_step = float(state["best"]), int(state["best_step"])
        self.bad, self.history = int(state["bad"]), [list(h) for h in state["history"]]
