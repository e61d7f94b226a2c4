"""Exceptions raised by graphrep.

Every error names *what* was wrong (the file, column, relation or node type) and
*what was expected*, so a user can fix their input without reading our source.
All of them derive from :class:`GraphrepError`; each also derives from the
built-in exception a Python user would try first (``ValueError``, ``KeyError``,
``FileNotFoundError``), so generic ``except`` clauses keep working.
"""

from __future__ import annotations


class GraphrepError(Exception):
    """Base class of every error graphrep raises on purpose."""


class GraphValidationError(GraphrepError, ValueError):
    """Input arrays or tables are not a valid graph (bad ids, lengths, dtypes, NaNs)."""


class SchemaError(GraphrepError, KeyError):
    """A node type, relation or feature name is not part of the graph's schema."""

    def __str__(self) -> str:  # KeyError would repr() the message; keep it readable
        return str(self.args[0]) if self.args else ""


class GraphFormatError(GraphrepError, OSError):
    """A saved graph/dataset directory is missing files or has a corrupt manifest."""


class ConfigError(GraphrepError, ValueError):
    """A configuration value is out of range or of the wrong type."""


class ShapeError(GraphrepError, ValueError):
    """A tensor passed to a model has the wrong shape or dtype for its argument."""


class TrainingError(GraphrepError, FloatingPointError):
    """Training diverged (a non-finite loss), naming the step and what to change."""


class UnsafePathError(GraphFormatError):
    """A manifest file entry points outside its directory (absolute path, ``..``, symlink)."""


class OutputExistsError(GraphrepError, FileExistsError):
    """An output path exists and graphrep will not replace it (not its own, or no overwrite)."""


class WriteError(GraphrepError, OSError):
    """Writing an output failed (no permission, read-only or full disk), naming the path."""


class RunLockedError(GraphrepError, RuntimeError):
    """Another process is writing the run directory (it holds the run's lock)."""
