"""Suite-wide test settings.

Tiny torch models are dominated by thread synchronisation on a 2-core machine
(50-100x slower with 2 intra-op threads when the cores are shared), so tests run
torch single-threaded; numba kernels keep their own thread pool and are tested
with explicit thread counts where it matters.
"""

import socket

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def free_port() -> int:
    """A free TCP port on 127.0.0.1 for a torch.distributed rendezvous (MASTER_PORT)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
