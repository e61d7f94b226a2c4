import numpy as np
import pytest
import torch

from graphrep.errors import ConfigError, GraphValidationError, ShapeError
from graphrep.eval.probe import (
    PROBE_CS,
    ProbeResult,
    linear_probe,
    macro_f1,
    probe_over_seeds,
    standardize,
)


def blobs(n, seed, num_classes=3, dim=5, spread=0.3):
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(100).normal(size=(num_classes, dim)) * 3
    y = rng.integers(0, num_classes, size=n)
    return centers[y] + spread * rng.normal(size=(n, dim)), y


def test_separable_blobs_are_perfect_and_ties_keep_the_strongest_regularisation():
    (xtr, ytr), (xva, yva), (xte, yte) = blobs(150, 0), blobs(60, 1), blobs(300, 2)
    res = linear_probe(xtr, ytr, xte, yte, xva, yva, max_iter=50)
    assert isinstance(res, ProbeResult)
    assert res.test_accuracy == 1.0 and res.macro_f1 == 1.0 and res.val_accuracy == 1.0
    # many C are perfect on val: the smallest C (largest lambda) among them wins
    assert res.c == pytest.approx(min(c for c in PROBE_CS if c >= res.c))
    assert res.weight_decay == pytest.approx(1 / (150 * res.c))
    weaker = linear_probe(xtr, ytr, xte, yte, xva, yva, cs=[c for c in PROBE_CS if c < res.c],
                          max_iter=50)  # fmt: skip
    assert weaker.val_accuracy < 1.0  # ... and is the smallest perfect one
    no_val = linear_probe(xtr, ytr, xte, yte, weight_decays=(1e-2, 0.0), max_iter=50)
    assert no_val.weight_decay == 1e-2 and no_val.val_accuracy is None
    default = linear_probe(xtr, ytr, xte, yte, max_iter=50)  # no validation: C = 1
    assert default.c == pytest.approx(1.0)


def test_grid_reaches_strong_regularisation():
    assert min(PROBE_CS) == pytest.approx(1e-4) and max(PROBE_CS) == pytest.approx(1e4)
    assert len(PROBE_CS) == 21 and np.allclose(np.diff(np.log10(PROBE_CS)), 0.4)


def test_standardize_is_isotropic_l2_then_global_scale():
    x = torch.tensor([[3.0, 4.0], [0.0, 2.0], [1.0, 0.0]], dtype=torch.float64)
    z = standardize(x)
    u = torch.tensor([[0.6, 0.8], [0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    mu = u.mean(0)
    s = float(((u - mu) ** 2).sum() / 3 / 2) ** 0.5  # one scale over all coordinates
    assert torch.allclose(z, (u - mu) / s)
    assert torch.allclose(z.square().sum(1).mean(), torch.tensor(2.0, dtype=torch.float64))
    # scaling a row does not move it; another reference set changes the centring only
    x2 = x.clone()
    x2[0] *= 10
    assert torch.allclose(standardize(x2), z)
    ref = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    r = standardize(x, ref)
    assert torch.allclose(r, (u - 0.5) / 0.5)


def test_random_labels_give_chance_accuracy():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(2200, 8)), rng.integers(0, 4, size=2200)
    res = linear_probe(x[:200], y[:200], x[200:], y[200:], weight_decays=(1e-2,), max_iter=50)
    assert 0.18 < res.test_accuracy < 0.32


def test_weight_decay_is_chosen_on_validation():
    # noisy labels, few training rows, many features: regularisation should win on val
    rng = np.random.default_rng(4)
    w = rng.normal(size=(40, 2))
    x = rng.normal(size=(1040, 40))
    y = ((x @ w).argmax(1) + (rng.random(1040) < 0.2)) % 2
    res = linear_probe(
        x[:40],
        y[:40],
        x[540:],
        y[540:],
        x[40:540],
        y[40:540],
        weight_decays=(0.0, 1.0),
        max_iter=100,
    )
    assert res.c in (float("inf"), 1 / 40)
    accs = [
        linear_probe(
            x[:40], y[:40], x[40:540], y[40:540], weight_decays=(wd,), max_iter=100
        ).test_accuracy
        for wd in (0.0, 1.0)
    ]
    assert res.weight_decay == (0.0, 1.0)[int(np.argmax(accs))]
    assert res.val_accuracy == max(accs)


def test_deterministic_under_seed_and_torch_input():
    (xtr, ytr), (xte, yte) = blobs(80, 5, spread=2.0), blobs(80, 6, spread=2.0)
    a = linear_probe(xtr, ytr, xte, yte, max_iter=30, seed=3)
    assert a == linear_probe(xtr, ytr, xte, yte, max_iter=30, seed=3)
    b = linear_probe(torch.from_numpy(xtr), torch.from_numpy(ytr), xte, yte, max_iter=30, seed=3)
    assert a == b


def test_macro_f1_hand_example():
    # class 0: f1 2/3, class 1: 2*1/(1+3) = 1/2, class 2: 0 (missed), class 3 absent
    got = macro_f1(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), num_classes=4)
    assert got == pytest.approx((2 / 3 + 0.5 + 0.0) / 3)


def test_bad_inputs_raise():
    x, y = blobs(20, 7)
    with pytest.raises(ShapeError, match="test_x has dimension"):
        linear_probe(x, y, x[:, :3], y)
    with pytest.raises(ShapeError, match="train_y"):
        linear_probe(x, y[:-1], x, y)
    with pytest.raises(GraphValidationError, match="test_y: label 3"):
        linear_probe(x, y, x, np.full(20, 3))
    with pytest.raises(GraphValidationError, match="train_y: labels must be >= 0"):
        linear_probe(x, y - 1, x, y)
    with pytest.raises(GraphValidationError, match="integer"):
        linear_probe(x, y.astype(float), x, y)
    bad = x.copy()
    bad[4, 1] = np.nan
    with pytest.raises(GraphValidationError, match="train_x: row 4"):
        linear_probe(bad, y, x, y)
    with pytest.raises(ConfigError, match="val_x and val_y"):
        linear_probe(x, y, x, y, val_x=x)
    with pytest.raises(ConfigError, match="weight_decays"):
        linear_probe(x, y, x, y, weight_decays=(-1.0,))
    with pytest.raises(ConfigError, match="cs must"):
        linear_probe(x, y, x, y, x, y, cs=(0.0, 1.0))
    with pytest.raises(ShapeError, match="reference_x has dimension"):
        linear_probe(x, y, x, y, reference_x=x[:, :2])
    # a class missing from training is fine once num_classes says it exists
    assert linear_probe(x, y, x, np.full(20, 3), num_classes=4, max_iter=5).test_accuracy == 0.0


def test_probe_over_seeds():
    x, y = blobs(300, 8)
    idx = np.random.default_rng(0).permutation(300)
    out = probe_over_seeds(x, y, idx[:100], idx[100:150], idx[150:], seeds=(0, 1, 2), max_iter=30)
    assert out["test_accuracy_mean"] > 0.98 and out["test_accuracy_std"] < 0.01
    assert len(out["test_accuracies"]) == 3 and len(out["weight_decays"]) == 3
    noisy, _ = blobs(300, 9, spread=3.0)
    out = probe_over_seeds(noisy, y, idx[:100], None, idx[150:], seeds=(0, 1), max_iter=3)
    accs = np.array(out["test_accuracies"])
    assert out["test_accuracy_std"] == pytest.approx(accs.std())
    assert out["test_accuracy_mean"] == pytest.approx(accs.mean())
    with pytest.raises(GraphValidationError, match="test_idx"):
        probe_over_seeds(x, y, idx[:100], None, np.array([300]))
