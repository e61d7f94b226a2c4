r"""Linear probe: multinomial logistic regression on frozen embeddings.

The standard test of how linearly decodable a property (e.g. a node's topic)
is from a representation, as used for self-supervised graph embeddings (e.g.
DGI, `arXiv:1809.10341 <https://arxiv.org/abs/1809.10341>`_). Features are
standardised with the training statistics, :math:`\tilde{x} = (x - \mu) / \sigma`,
and a softmax classifier :math:`p(y \mid x) = \mathrm{softmax}(W\tilde{x} + b)`
is fit full-batch with L-BFGS (float64) on

.. math::
    \mathcal{L}(W, b) = -\frac{1}{n}\sum_{i=1}^{n} \log p(y_i \mid x_i)
        + \frac{\lambda}{2}\lVert W \rVert_F^2 .

The weight decay :math:`\lambda` is chosen by validation accuracy when a
validation split is given (ties: the earliest in ``weight_decays``), else the
first value is used. The seed sets the random initialisation of :math:`W`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from graphrep.errors import ConfigError, GraphValidationError, ShapeError
from graphrep.eval.retrieval import as_embeddings, check_positive_int


@dataclass(frozen=True)
class ProbeResult:
    """Outcome of :func:`linear_probe`.

    Attributes:
        test_accuracy: accuracy on the test split.
        val_accuracy: accuracy on the validation split (``None`` without one).
        weight_decay: the chosen :math:`\\lambda`.
        macro_f1: unweighted mean F1 on the test split over classes present in the
            test labels or the predictions.
    """

    test_accuracy: float
    val_accuracy: float | None
    weight_decay: float
    macro_f1: float


def _labels(y: object, n: int, num_classes: int | None, name: str) -> np.ndarray:
    arr = np.asarray(y.detach().cpu() if isinstance(y, Tensor) else y)
    if arr.ndim != 1 or len(arr) != n:
        raise ShapeError(f"{name}: expected a 1-D array of {n} labels, got shape {arr.shape}")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise GraphValidationError(f"{name}: expected integer class labels, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if n and arr.min() < 0:
        raise GraphValidationError(f"{name}: labels must be >= 0, got {int(arr.min())}")
    if num_classes is not None and n and arr.max() >= num_classes:
        raise GraphValidationError(
            f"{name}: label {int(arr.max())} is out of range; expected labels in "
            f"[0, {num_classes}) (pass num_classes= if classes are missing from training)"
        )
    return arr


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> float:
    """Unweighted mean per-class F1 over classes present in ``y_true`` or ``y_pred``."""
    tp = np.bincount(y_true[y_true == y_pred], minlength=num_classes)
    support = np.bincount(y_true, minlength=num_classes) + np.bincount(
        y_pred, minlength=num_classes
    )
    present = support > 0
    return float(np.mean(2.0 * tp[present] / support[present])) if present.any() else 0.0


def _fit_threaded(x: Tensor, y: Tensor, num_classes: int, wd: float, max_iter: int, seed: int) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    w = 0.01 * torch.randn(x.shape[1], num_classes, generator=gen, dtype=x.dtype)
    w = torch.cat([w, torch.zeros(1, num_classes, dtype=x.dtype)]).requires_grad_(True)
    opt = torch.optim.LBFGS(
        [w],
        lr=1.0,
        max_iter=max_iter,
        history_size=20,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
    )

    def closure() -> Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(x @ w[:-1] + w[-1], y) + 0.5 * wd * w[:-1].square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach()


def _fit(x: Tensor, y: Tensor, num_classes: int, wd: float, max_iter: int, seed: int) -> Tensor:
    """:func:`_fit_threaded` on one torch thread: the problem is tiny, and several threads
    contending for busy cores made LBFGS an order of magnitude slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _fit_threaded(x, y, num_classes, wd, max_iter, seed)
    finally:
        torch.set_num_threads(threads)


def _predict(w: Tensor, x: Tensor) -> np.ndarray:
    return (x @ w[:-1] + w[-1]).argmax(1).numpy()


def linear_probe(
    train_x: object,
    train_y: object,
    test_x: object,
    test_y: object,
    val_x: object | None = None,
    val_y: object | None = None,
    weight_decays: Sequence[float] = (0.0, 1e-4, 1e-3, 1e-2),
    max_iter: int = 200,
    seed: int = 0,
    num_classes: int | None = None,
) -> ProbeResult:
    """Fit a multinomial logistic regression on ``train`` and score it on ``test``.

    Args:
        train_x: ``[n_train, D]`` features (numpy or torch; NaN raises).
        train_y: ``[n_train]`` integer labels in ``[0, num_classes)``.
        test_x: ``[n_test, D]`` features.
        test_y: ``[n_test]`` labels.
        val_x: optional ``[n_val, D]`` features used to choose the weight decay.
        val_y: optional ``[n_val]`` labels.
        weight_decays: candidate :math:`\\lambda` values (``>= 0``).
        max_iter: L-BFGS iterations.
        seed: seed of the weight initialisation (results are deterministic under it).
        num_classes: number of classes (default ``max(train_y) + 1``); every label of
            every split must lie below it.

    Returns:
        A :class:`ProbeResult`.
    """
    tr_x = as_embeddings(train_x, "train_x").double()
    te_x = as_embeddings(test_x, "test_x").double()
    if (val_x is None) != (val_y is None):
        raise ConfigError("linear_probe: give both val_x and val_y, or neither")
    va_x = as_embeddings(val_x, "val_x").double() if val_x is not None else None
    for name, t in (("test_x", te_x), ("val_x", va_x)):
        if t is not None and t.shape[1] != tr_x.shape[1]:
            raise ShapeError(f"{name} has dimension {t.shape[1]}, train_x has {tr_x.shape[1]}")
    if tr_x.shape[0] == 0 or te_x.shape[0] == 0:
        raise ShapeError("linear_probe: train_x and test_x need at least one row each")
    tr_y = _labels(train_y, tr_x.shape[0], num_classes, "train_y")
    if num_classes is None:
        num_classes = int(tr_y.max()) + 1
    num_classes = check_positive_int(num_classes, "num_classes")
    te_y = _labels(test_y, te_x.shape[0], num_classes, "test_y")
    va_y = _labels(val_y, va_x.shape[0], num_classes, "val_y") if va_x is not None else None
    wds = [float(w) for w in weight_decays]
    if not wds or min(wds) < 0 or not np.isfinite(wds).all():
        raise ConfigError(
            f"weight_decays must be a non-empty list of finite values >= 0, got {wds}"
        )
    max_iter = check_positive_int(max_iter, "max_iter")

    mean, std = tr_x.mean(0), tr_x.std(0, unbiased=False)
    std = torch.where(std > 0, std, torch.ones_like(std))
    tr_x, te_x = (tr_x - mean) / std, (te_x - mean) / std
    y = torch.from_numpy(tr_y)
    if va_x is None:
        w, best_wd, val_acc = _fit(tr_x, y, num_classes, wds[0], max_iter, seed), wds[0], None
    else:
        va_x = (va_x - mean) / std
        fits = [(_fit(tr_x, y, num_classes, wd, max_iter, seed), wd) for wd in wds]
        accs = [float((_predict(fw, va_x) == va_y).mean()) for fw, _ in fits]
        best = int(np.argmax(accs))  # first maximum: ties keep the earlier weight decay
        (w, best_wd), val_acc = fits[best], accs[best]
    pred = _predict(w, te_x)
    return ProbeResult(
        test_accuracy=float((pred == te_y).mean()),
        val_accuracy=val_acc,
        weight_decay=best_wd,
        macro_f1=macro_f1(te_y, pred, num_classes),
    )


def probe_over_seeds(
    x: object,
    y: object,
    train_idx: np.ndarray,
    val_idx: np.ndarray | None,
    test_idx: np.ndarray,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    **kw: object,
) -> dict[str, object]:
    """Run :func:`linear_probe` once per seed on fixed embeddings and splits.

    Args:
        x: ``[n, D]`` embeddings.
        y: ``[n]`` integer labels.
        train_idx: rows of the training split.
        val_idx: rows of the validation split (or ``None``).
        test_idx: rows of the test split.
        seeds: one probe per seed (the seed changes the initialisation).
        **kw: forwarded to :func:`linear_probe` (e.g. ``weight_decays``, ``max_iter``).

    Returns:
        ``"test_accuracy_mean"``, ``"test_accuracy_std"`` (population std, ``ddof=0``),
        ``"macro_f1_mean"``, ``"test_accuracies"`` (list per seed) and
        ``"weight_decays"`` (chosen per seed).
    """
    if not len(seeds):
        raise ConfigError("probe_over_seeds: seeds must hold at least one seed")
    xt = as_embeddings(x, "x")
    n = xt.shape[0]
    labels = _labels(y, n, None, "y")
    idx = {}
    for name, rows in (("train_idx", train_idx), ("val_idx", val_idx), ("test_idx", test_idx)):
        if rows is None:
            continue
        rows = np.asarray(rows)
        if rows.ndim != 1 or not (np.issubdtype(rows.dtype, np.integer) or rows.size == 0):
            raise GraphValidationError(f"{name}: expected a 1-D integer index array")
        if rows.size and (rows.min() < 0 or rows.max() >= n):
            raise GraphValidationError(f"{name}: indices must lie in [0, {n})")
        idx[name] = torch.from_numpy(rows.astype(np.int64))
    if "train_idx" not in idx or "test_idx" not in idx:
        raise ConfigError("probe_over_seeds: train_idx and test_idx are required")
    if "num_classes" not in kw:
        kw["num_classes"] = int(labels.max()) + 1 if n else 1
    val = idx.get("val_idx")
    results = [
        linear_probe(
            xt[idx["train_idx"]],
            labels[idx["train_idx"].numpy()],
            xt[idx["test_idx"]],
            labels[idx["test_idx"].numpy()],
            xt[val] if val is not None else None,
            labels[val.numpy()] if val is not None else None,
            seed=s,
            **kw,
        )
        for s in seeds
    ]
    accs = np.array([r.test_accuracy for r in results])
    return {
        "test_accuracy_mean": float(accs.mean()),
        "test_accuracy_std": float(accs.std()),
        "macro_f1_mean": float(np.mean([r.macro_f1 for r in results])),
        "test_accuracies": accs.tolist(),
        "weight_decays": [r.weight_decay for r in results],
    }
