"""Overfit: OmniSage on the tiny synthetic graph memorises a few fixed multi-task batches.

The sanity check of the whole stack (sampling -> inputs -> encoders -> sequence
encoder -> losses -> Adam): cycling over a handful of fixed batches of every task,
the training loss must fall by more than 80 % within a few hundred CPU steps.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from graphrep.data.synthetic import generate
from graphrep.models import OmniSage
from graphrep.tasks import (
    EntityEntityTask,
    EntityFeatureTask,
    InputBuilder,
    MultiTask,
    NeighborConfig,
    QueryEntityTask,
    UserEntityTask,
    default_samplers,
)
from graphrep.train.presets import PINTEREST_QUOTAS_SMALL

QUOTAS = PINTEREST_QUOTAS_SMALL  # the tiny preset's neighborhoods


def setup(encoder: str = "entity", batch: int = 16, seed: int = 0) -> tuple[OmniSage, MultiTask]:
    ds = generate("tiny", 0)
    g, cut = ds.graph, ds.meta["cut_time"]
    b = InputBuilder(g, default_samplers(g, NeighborConfig(quotas=QUOTAS, num_walks=16)), max_tokens=12)
    neg = {"num_random_negatives": 16}
    seq = UserEntityTask(
        b, ds.events, cut, max_len=12, future_window=86400, num_positions=4,
        batch_size=batch // 2, seed=seed + 3, **neg,
    )  # fmt: skip
    mt = MultiTask(
        {
            "pin_pin": (EntityEntityTask(b, "co_engaged", batch_size=batch, seed=seed, **neg), 1.0),
            "board_pin": (EntityEntityTask(b, "contains", batch_size=batch, seed=seed + 1, **neg), 1.0),
            "feature": (EntityFeatureTask(b, ["pin", "board", "query"], batch, seed=seed + 2), 0.5),
            "sequence": (seq, 1.0),
            "query": (QueryEntityTask(b, batch_size=batch, seed=seed + 4, **neg), 1.0),
        }
    )
    kw = {"mlp_hidden": 64, "num_heads": 2} if encoder == "entity" else {"hidden": 64}
    torch.manual_seed(seed)
    model = OmniSage.from_builder(
        b, ds.events, node_types=["pin", "board", "query"], dim=32, encoder=encoder,
        id_buckets=1024, text_buckets=2048, feature_head_hidden=64,
        sequence_kwargs={"max_len": 12, "num_layers": 1, "num_heads": 2}, **kw,
    )  # fmt: skip
    mt.attach(model)
    return model, mt


def overfit(model: OmniSage, mt: MultiTask, steps: int, num_batches: int) -> list[float]:
    batches = [mt.sample(s) for s in range(num_batches)]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for i in range(steps):
        loss, _ = mt.loss(model, batches[i % num_batches])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def cycle_means(losses: list[float], k: int) -> tuple[float, float]:
    """Mean training loss over the first and the last cycle of ``k`` batches."""
    return float(np.mean(losses[:k])), float(np.mean(losses[-k:]))


def test_overfit_tiny_graph():
    start = time.perf_counter()
    model, mt = setup()
    losses = overfit(model, mt, steps=200, num_batches=4)
    first, last = cycle_means(losses, 4)
    elapsed = time.perf_counter() - start
    assert all(math.isfinite(v) for v in losses)
    assert last < 0.2 * first, f"loss {first:.3f} -> {last:.3f} ({elapsed:.1f} s)"


@pytest.mark.slow
@pytest.mark.parametrize("encoder", ["entity", "pinsage"])
def test_overfit_longer(encoder):
    model, mt = setup(encoder, batch=32, seed=1)
    losses = overfit(model, mt, steps=600, num_batches=8)
    first, last = cycle_means(losses, 8)
    assert last < 0.15 * first, f"{encoder}: loss {first:.3f} -> {last:.3f}"
