"""Suite-wide test settings.

Tiny torch models are dominated by thread synchronisation on a 2-core machine
(50-100x slower with 2 intra-op threads when the cores are shared), so tests run
torch single-threaded; numba kernels keep their own thread pool and are tested
with explicit thread counts where it matters.
"""

import torch

torch.set_num_threads(1)
