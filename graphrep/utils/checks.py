"""Range and choice checks of configuration values, each raising a
:class:`~graphrep.errors.ConfigError` that names the field."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from graphrep.errors import ConfigError

__all__ = ["at_least", "choice", "finite"]


def at_least(value: Any, name: str, minimum: float = 1) -> None:
    """Refuse ``value < minimum`` for the field ``name``."""
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value!r}")


def finite(value: Any, name: str) -> None:
    """Refuse a NaN or infinite ``value`` for the field ``name``."""
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")


def choice(value: Any, name: str, options: Sequence[Any]) -> None:
    """Refuse a ``value`` that is not one of ``options`` for the field ``name``."""
    if value not in options:
        raise ConfigError(f"{name} must be one of {list(options)}, got {value!r}")
