"""OpenMP wait policy: idle OpenMP threads sleep instead of spinning.

PyTorch's CPU kernels run in GNU OpenMP (libgomp) parallel regions. Between regions
libgomp's threads spin by default (``OMP_WAIT_POLICY=ACTIVE`` behaviour for a while),
which costs nothing on an idle machine but is ruinous when the cores are shared: a
spinning thread holds a core the region's other thread needs, and every one of the
thousands of small regions of a training step then waits for a scheduler time slice.
Measured on a 2-core machine under load 5 (``benchmarks/train_throughput.py``, see
``docs/benchmarks.md``): a fused AdamW step over 2.5 M parameters took 376-495 ms with
2 spinning threads against 6.5-7.6 ms passive, and a 512² matmul ran at 8 against
42-44 GFLOP/s.

libgomp reads the policy once, when it is loaded (when torch is first imported), so
:func:`passive_openmp` must run before that: ``import graphrep`` calls it. A policy the
user set (``OMP_WAIT_POLICY=ACTIVE``, or ``GOMP_SPINCOUNT``) is left alone.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Container, MutableMapping


def passive_openmp(
    environ: MutableMapping[str, str] | None = None, modules: Container[str] | None = None
) -> bool:
    """Ask OpenMP for a passive wait policy unless the user chose one or torch is loaded.

    Args:
        environ: the environment to edit (default ``os.environ``).
        modules: the loaded modules (default ``sys.modules``).

    Returns:
        Whether the policy was set here.
    """
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if "torch" in modules or "OMP_WAIT_POLICY" in environ or "GOMP_SPINCOUNT" in environ:
        return False
    environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True
