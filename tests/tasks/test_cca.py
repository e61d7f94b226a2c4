"""CCATask (CCA-SSG): the loss matches a hand computation, the two views differ as the
augmentations say, and training lowers the loss without collapsing the embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrep.models import OmniSage
from graphrep.tasks import CCATask, InputBuilder, NeighborConfig, default_samplers
from graphrep.tasks.cca import cca_ssg_loss
from tests.tasks.test_masked_features import SMALL, attributed


@pytest.fixture(scope="module")
def builder():
    g = attributed()
    cfg = NeighborConfig(metapaths={"paper": [["cites"]]}, quotas={"paper": {"paper": 5}}, num_walks=16)
    return InputBuilder(g, default_samplers(g, cfg))


def test_cca_loss_matches_hand_computation():
    z1 = torch.tensor([[1.0, 2.0], [3.0, 0.0]], dtype=torch.float64)
    z2 = torch.tensor([[0.0, 1.0], [2.0, 1.0]], dtype=torch.float64)
    # per column: mean, population std, then / sqrt(B=2)
    s1 = np.array([[-1.0, 1.0], [1.0, -1.0]]) / np.sqrt(2)
    s2 = np.array([[-1.0, 0.0], [1.0, 0.0]]) / np.sqrt(2)  # column 2 is constant: std floored
    inv = ((s1 - s2) ** 2).sum()
    dec = ((s1.T @ s1 - np.eye(2)) ** 2).sum() + ((s2.T @ s2 - np.eye(2)) ** 2).sum()
    loss, i, d = cca_ssg_loss(z1, z2, lam=0.5)
    assert float(i) == pytest.approx(inv) and float(d) == pytest.approx(dec)
    assert float(loss) == pytest.approx(inv + 0.5 * dec)
    same, i0, _ = cca_ssg_loss(z1, z1.clone(), lam=0.0)
    assert float(same) == pytest.approx(0.0) and float(i0) == pytest.approx(0.0)


def test_views_mask_columns_and_drop_neighbours(builder):
    task = CCATask(builder, ["paper"], batch_size=60, feature_drop=0.5, neighbor_drop=0.5, seed=2)
    a, b = task.sample(1).views["paper"]
    assert torch.equal(a.ids, b.ids)
    assert len(task.sample(1)) == len(a) == 60  # the trainer's examples/s counts the nodes
    zero_a = (a.batch.dense["x"] == 0).all(0)
    zero_b = (b.batch.dense["x"] == 0).all(0)
    assert not torch.equal(zero_a, zero_b)  # different columns masked in the two views
    m = builder.build("paper", a.ids.numpy(), 1).neighbors["paper"][2]
    ma, mb = a.neighbors["paper"][2], b.neighbors["paper"][2]
    assert bool((ma <= m).all()) and 0.3 < ma.sum() / m.sum() < 0.7
    assert not torch.equal(ma, mb)
    a2, _ = task.sample(1).views["paper"]
    assert torch.equal(a2.batch.dense["x"], a.batch.dense["x"])


def test_training_lowers_the_loss_and_keeps_dimensions_decorrelated(builder):
    task = CCATask(builder, ["paper"], batch_size=60, lam=1e-2, seed=0)
    torch.manual_seed(0)
    model = OmniSage.from_builder(builder, **SMALL)
    task.attach(model)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = float(task.loss(model, task.sample(0))[0].detach())
    for step in range(40):
        loss, _ = task.loss(model, task.sample(step))
        opt.zero_grad()
        loss.backward()
        opt.step()
    _, metrics = task.loss(model, task.sample(0))
    assert metrics["loss"] < 0.8 * first
    z = model.embed("paper", builder.build("paper", np.arange(60), 0)).detach()
    assert float(z.std(0).min()) > 1e-3  # no collapsed dimension
