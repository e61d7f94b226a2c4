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


def _make_run(path, dataset, cfg=None):
    """A run directory holding ``dataset``, the tiny config (HNSW indexes) and an initialised
    model (exactness of the inference paths does not need a trained one), exported."""
    import numpy as np  # noqa: F401  (kept local: most tests do not need these imports)

    from graphrep.embed.export import export_run
    from graphrep.train.build import build
    from graphrep.train.presets import preset
    from graphrep.train.rundir import RunDir

    cfg = cfg or preset("tiny").override(["embed.index=hnsw"])
    run = RunDir(path)
    run.path.mkdir(parents=True)
    cfg.save(run.config_path)
    dataset.save(run.data_path)
    model = build(cfg, dataset).model
    torch.save({"model": model.state_dict(), "hparams": model.hparams, "step": 0}, run.model_path)
    export_run(run)
    return run


@pytest.fixture(scope="session")
def make_run():
    """``make_run(path, dataset, cfg=None)``: a run directory with its export (version 0)."""
    return _make_run


@pytest.fixture(scope="module")
def holdout():
    """The tiny synthetic dataset with 10 pins held out (ids 490..499 of the full one)."""
    import numpy as np

    from graphrep.data.holdout_nodes import hold_out_nodes
    from graphrep.data.synthetic import generate

    rng = np.random.default_rng(0)
    return hold_out_nodes(generate("tiny", 0), "pin", np.sort(rng.choice(500, 10, replace=False)))
