import itertools
import math

import numpy as np
import pytest
import torch

from graphrep.errors import ConfigError, ShapeError
from graphrep.models.sampled_softmax import SampledSoftmax


def reference_loss(q, p, pid, rn, rid, lqp, lqr, tau, mode, logq, acc, dup, exclude):
    """Per-row sampled softmax computed with explicit loops in float64. ``lqp``/``lqr`` are
    log probabilities per draw; the expected count adds log B (in-batch) or log N (random)."""
    q, p = np.asarray(q, np.float64), np.asarray(p, np.float64)
    B = len(q)
    n_random = rn.shape[-2] if rn.ndim >= 2 else 0
    if logq:
        lqp = np.asarray(lqp, np.float64) + math.log(B if mode != "random" else n_random)
        lqr = None if lqr is None else np.asarray(lqr, np.float64) + math.log(max(n_random, 1))
    losses = []
    for b in range(B):
        ex = set() if exclude is None else {int(e) for e in exclude[b]}
        pos = float(q[b] @ p[b]) / tau - (lqp[b] if logq else 0.0)
        negs = []
        if mode in ("in_batch", "mixed"):
            for j in range(B):
                if j == b:
                    continue
                if acc and pid[j] == pid[b]:
                    continue
                if dup and any(pid[k] == pid[j] for k in range(j)):
                    continue
                if int(pid[j]) in ex:
                    continue
                negs.append(float(q[b] @ p[j]) / tau - (lqp[j] if logq else 0.0))
        if mode in ("random", "mixed"):
            rows = rn[b] if rn.ndim == 3 else rn
            ids = rid[b] if rid.ndim == 2 else rid
            lq = None if lqr is None else (lqr[b] if lqr.ndim == 2 else lqr)
            for k in range(len(rows)):
                if acc and ids[k] == pid[b]:
                    continue
                if int(ids[k]) in ex:
                    continue
                negs.append(float(q[b] @ rows[k]) / tau - (lq[k] if logq else 0.0))
        m = max([pos, *negs])
        lse = m + math.log(sum(math.exp(s - m) for s in [pos, *negs]))
        losses.append(lse - pos)
    return np.array(losses)


def _batch(seed=0, B=6, N=5, D=4, per_row=False):
    g = torch.Generator().manual_seed(seed)
    q = torch.nn.functional.normalize(torch.randn(B, D, generator=g), dim=-1)
    p = torch.nn.functional.normalize(torch.randn(B, D, generator=g), dim=-1)
    pid = torch.tensor([3, 1, 3, 2, 1, 0])[:B]  # duplicates: 3 (rows 0, 2) and 1 (rows 1, 4)
    shape = (B, N) if per_row else (N,)
    rn = torch.nn.functional.normalize(torch.randn(*shape, D, generator=g), dim=-1)
    rid = torch.randint(0, 5, shape, generator=g)
    rid.view(-1)[:2] = torch.tensor([3, 2])  # guaranteed accidental hits for some rows
    lqp = torch.log(torch.rand(B, generator=g) * 0.5 + 0.01)
    lqr = torch.log(torch.rand(shape, generator=g) * 0.5 + 0.01)
    return q, p, pid, rn, rid, lqp, lqr


def test_hand_computed_two_rows():
    # q0=[1,0], q1=[0,1], p0=[1,0], p1=[0,1], tau=1: each row's logits are [1, 0] (positive 1),
    # so the loss is log(e^1 + e^0) - 1 = log(1 + e^-1).
    loss = SampledSoftmax(1.0, 0.5, 2.0, negatives="in_batch", logq=False,
                          remove_accidental_hits=False, remove_duplicates=False)
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    out = loss(q, q.clone())
    assert out.item() == pytest.approx(math.log(1 + math.exp(-1)), abs=1e-6)
    # logQ = [log .5, log .25]: row 0 logits [1 + log 2, 0 + log 4], row 1 [log 2, 1 + log 4]
    loss.logq = True
    out = loss(q, q.clone(), log_q_positive=torch.log(torch.tensor([0.5, 0.25])))
    l0 = -(1 + math.log(2)) + math.log(2 * math.e + 4)
    l1 = -(1 + math.log(4)) + math.log(2 + 4 * math.e)
    assert out.item() == pytest.approx((l0 + l1) / 2, abs=1e-6)


@pytest.mark.parametrize(
    "mode,logq,acc,dup,per_row",
    [
        (m, lq, a, d, pr)
        for m, lq, a, d, pr in itertools.product(
            ["in_batch", "random", "mixed"], [False, True], [False, True], [False, True],
            [False, True]
        )
        if not (m == "in_batch" and pr)
    ],
)
def test_matches_loop_reference(mode, logq, acc, dup, per_row):
    q, p, pid, rn, rid, lqp, lqr = _batch(seed=1, per_row=per_row)
    loss = SampledSoftmax(0.2, 0.01, 1.0, negatives=mode, logq=logq,
                          remove_accidental_hits=acc, remove_duplicates=dup, reduction="none")
    kw = {"positive_ids": pid, "log_q_positive": lqp}
    if mode != "in_batch":
        kw.update(random_negatives=rn, random_negative_ids=rid, log_q_random=lqr)
    out = loss(q, p, **kw)
    ref = reference_loss(q.numpy(), p.numpy(), pid.numpy(), rn.numpy(), rid.numpy(),
                         lqp.numpy(), lqr.numpy(), 0.2, mode, logq, acc, dup, None)
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-5, atol=1e-5)
    mean = SampledSoftmax(0.2, 0.01, 1.0, negatives=mode, logq=logq,
                          remove_accidental_hits=acc, remove_duplicates=dup)(q, p, **kw)
    assert mean.item() == pytest.approx(ref.mean(), rel=1e-5)


def test_masking_changes_the_loss_and_excludes_ids():
    q, p, pid, rn, rid, lqp, lqr = _batch(seed=2)
    kw = dict(positive_ids=pid, random_negatives=rn, random_negative_ids=rid,
              log_q_positive=lqp, log_q_random=lqr, )
    on = SampledSoftmax(0.1, reduction="none")(q, p, **kw)
    off = SampledSoftmax(0.1, remove_accidental_hits=False, remove_duplicates=False,
                         reduction="none")(q, p, **kw)
    # rows 0 and 2 share item 3 and row 0 has random negative 3: masking removes terms
    assert (on <= off + 1e-6).all() and (on < off - 1e-6).any()
    exclude = torch.tensor([[0, -1], [2, 4], [-1, -1], [1, 1], [3, 0], [1, -1]])
    out = SampledSoftmax(0.1, reduction="none")(q, p, exclude_ids=exclude, **kw)
    ref = reference_loss(q.numpy(), p.numpy(), pid.numpy(), rn.numpy(), rid.numpy(),
                         lqp.numpy(), lqr.numpy(), 0.1, "mixed", True, True, True,
                         exclude.numpy())
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-5, atol=1e-5)


def test_every_negative_masked_gives_zero_loss_not_nan():
    q = torch.nn.functional.normalize(torch.randn(3, 4), dim=-1)
    loss = SampledSoftmax(negatives="in_batch", logq=False)
    q.requires_grad_(True)
    out = loss(q, q.detach().clone(), positive_ids=torch.tensor([7, 7, 7]))
    assert out.item() == pytest.approx(0.0, abs=1e-7)
    out.backward()
    assert torch.isfinite(q.grad).all()


def test_temperature_init_and_clamp_after_optimizer_step():
    loss = SampledSoftmax(negatives="in_batch", logq=False)
    assert loss.temperature == pytest.approx(0.07)
    assert loss.log_temperature.exp().item() == pytest.approx(0.07)
    opt = torch.optim.SGD(loss.parameters(), lr=1.0)
    q = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    p = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    ids = torch.arange(4)
    for push, bound in ((100.0, 0.01), (-100.0, 1.0)):
        loss.log_temperature.grad = torch.tensor(push)
        opt.step()  # log tau is now far outside [log 0.01, log 1]
        assert loss.temperature == pytest.approx(bound)
        out = loss(q, p, positive_ids=ids)
        ref = reference_loss(q.numpy(), p.numpy(), ids.numpy(), np.zeros((0, 8)),
                             np.zeros(0, int), None, None, bound, "in_batch", False, True, True,
                             None)
        assert out.item() == pytest.approx(ref.mean(), rel=1e-5)
        assert loss.log_temperature.item() == pytest.approx(math.log(bound))  # param clamped
    loss.log_temperature.grad = torch.tensor(0.1)  # from the upper bound it can move back down
    opt.step()
    assert loss.temperature == pytest.approx(math.exp(-0.1))
    loss.reset_parameters()
    assert loss.temperature == pytest.approx(0.07)
    # the loss module can be used twice (two tasks) before one backward
    loss.log_temperature.grad = None
    (loss(q, p, positive_ids=ids) + loss(p, q, positive_ids=ids)).backward()
    assert loss.log_temperature.grad is not None


def test_gradients_reach_inputs_and_temperature():
    q, p, pid, rn, rid, lqp, lqr = _batch(seed=3, per_row=True)
    for t in (q, p, rn):
        t.requires_grad_(True)
    loss = SampledSoftmax()
    loss(q, p, positive_ids=pid, random_negatives=rn, random_negative_ids=rid,
         log_q_positive=lqp, log_q_random=lqr).backward()
    for t in (q, p, rn, loss.log_temperature):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
    fixed = SampledSoftmax(learn_temperature=False, negatives="in_batch", logq=False)
    assert list(fixed.parameters()) == [] and "log_temperature" in fixed.state_dict()


def test_bad_shapes_dtypes_and_arguments():
    q, p, pid, rn, rid, lqp, lqr = _batch(seed=4)
    loss = SampledSoftmax()
    kw = dict(positive_ids=pid, random_negatives=rn, random_negative_ids=rid,
              log_q_positive=lqp, log_q_random=lqr)
    with pytest.raises(ShapeError, match="positive must have shape"):
        loss(q, torch.cat([p, p[:1]]), **kw)
    with pytest.raises(ShapeError, match="positive_ids must be an integer"):
        loss(q, p, **{**kw, "positive_ids": pid.float()})
    with pytest.raises(ShapeError, match="random_negative_ids must have shape"):
        loss(q, p, **{**kw, "random_negative_ids": rid[:-1]})
    with pytest.raises(ShapeError, match="random_negatives must be"):
        loss(q, p, **{**kw, "random_negatives": rn[:, :2]})
    with pytest.raises(ShapeError, match="log_q_positive must be a floating"):
        loss(q, p, **{**kw, "log_q_positive": pid})
    with pytest.raises(ShapeError, match="query must be"):
        loss(q[0], p, **kw)
    with pytest.raises(ConfigError, match="log_q_positive"):
        loss(q, p, **{**kw, "log_q_positive": None})
    with pytest.raises(ConfigError, match="log_q_random"):
        loss(q, p, **{**kw, "log_q_random": None})
    with pytest.raises(ConfigError, match="positive_ids are required"):
        loss(q, p, **{**kw, "positive_ids": None})
    with pytest.raises(ConfigError, match="needs random_negatives"):
        SampledSoftmax(negatives="random")(q, p, positive_ids=pid, log_q_positive=lqp)
    with pytest.raises(ConfigError, match="takes no random_negatives"):
        SampledSoftmax(negatives="in_batch")(q, p, **kw)
    for bad in (dict(init_temperature=0.0), dict(min_temperature=0.5),
                dict(negatives="hard"), dict(reduction="avg")):
        with pytest.raises(ConfigError):
            SampledSoftmax(**bad)
