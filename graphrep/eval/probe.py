r"""Linear probe: multinomial logistic regression on frozen embeddings.

The standard test of how linearly decodable a property (e.g. a node's topic)
is from a representation, as used for self-supervised graph embeddings (DGI,
`arXiv:1809.10341 <https://arxiv.org/abs/1809.10341>`_; CCA-SSG,
`arXiv:2106.12484 <https://arxiv.org/abs/2106.12484>`_). Every row is first
L2-normalised, then the rows are standardised *isotropically*: centred with the
mean :math:`\mu` of the reference rows (by default every row given, the unlabelled
nodes included; no label is read) and divided by one global scale

.. math::
    s = \sqrt{\tfrac{1}{nD}\textstyle\sum_i \lVert z_i - \mu \rVert^2},
    \qquad \tilde{x}_i = (z_i / \lVert z_i \rVert - \mu) / s ,

which keeps the embedding's geometry (per-column standardisation would inflate
noise directions) and makes the regularisation scale-free. A softmax classifier
:math:`p(y \mid x) = \mathrm{softmax}(W\tilde{x} + b)` is fit full-batch with
L-BFGS (float64) on

.. math::
    \mathcal{L}(W, b) = -\frac{1}{n}\sum_{i=1}^{n} \log p(y_i \mid x_i)
        + \frac{\lambda}{2}\lVert W \rVert_F^2, \qquad \lambda = \frac{1}{n\,C},

(:math:`C` as in scikit-learn's ``LogisticRegression``). :math:`C` runs over a
log-spaced grid from strong to weak regularisation (:data:`PROBE_CS`,
:math:`10^{-4} \dots 10^{4}`: 140 Cora labels over 1,433 features need the strong
end) and is chosen by accuracy on the validation split (ties: the stronger
regularisation); without one, :math:`C = 1`. The seed sets the (small) random
initialisation of :math:`W`; the problem is strictly convex, so it only matters
through L-BFGS's finite iterations.
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

#: The probe's default grid of scikit-learn style :math:`C` (:math:`\lambda = 1 / (n C)`).
PROBE_CS: tuple[float, ...] = tuple(float(c) for c in np.logspace(-4, 4, 21))


@dataclass(frozen=True)
class ProbeResult:
    """Outcome of :func:`linear_probe`.

    Attributes:
        test_accuracy: accuracy on the test split.
        val_accuracy: accuracy on the validation split (``None`` without one).
        weight_decay: the chosen :math:`\\lambda`.
        c: the chosen :math:`C = 1 / (n_{\\text{train}} \\lambda)` (``inf`` for
            :math:`\\lambda = 0`).
        macro_f1: unweighted mean F1 on the test split over classes present in the
            test labels or the predictions.
    """

    test_accuracy: float
    val_accuracy: float | None
    weight_decay: float
    macro_f1: float
    c: float = float("nan")


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


def standardize(x: Tensor, reference: Tensor | None = None, normalize: bool = True) -> Tensor:
    r"""The probe's input map (module docstring): rows L2-normalised (``normalize``), centred
    with the reference rows' mean, divided by their one global scale :math:`s`.

    Args:
        x: ``[n, D]`` float rows.
        reference: ``[m, D]`` rows whose mean and scale are used (default: ``x``).
        normalize: L2-normalise every row first (zero rows stay zero).
    """

    def unit(t: Tensor) -> Tensor:
        return t / t.norm(dim=1, keepdim=True).clamp_min(1e-12) if normalize else t

    x = unit(x)
    ref = x if reference is None else unit(reference)
    mean = ref.mean(0)
    scale = float((ref - mean).square().sum(1).mean().sqrt()) / max(ref.shape[1], 1) ** 0.5
    return (x - mean) / (scale if scale > 0 else 1.0)


def linear_probe(
    train_x: object,
    train_y: object,
    test_x: object,
    test_y: object,
    val_x: object | None = None,
    val_y: object | None = None,
    cs: Sequence[float] = PROBE_CS,
    weight_decays: Sequence[float] | None = None,
    reference_x: object | None = None,
    normalize: bool = True,
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
        val_x: optional ``[n_val, D]`` features used to choose the regularisation.
        val_y: optional ``[n_val]`` labels.
        cs: candidate :math:`C > 0` (:math:`\\lambda = 1 / (n_{train} C)`); default
            :data:`PROBE_CS`.
        weight_decays: candidate :math:`\\lambda \\ge 0` given directly (replaces ``cs``;
            without a validation split the first is used).
        reference_x: rows whose mean and scale standardise every split (e.g. every node of
            the graph; default: the train, validation and test rows together).
        normalize: L2-normalise rows before standardising.
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
    ref = as_embeddings(reference_x, "reference_x").double() if reference_x is not None else None
    for name, t in (("test_x", te_x), ("val_x", va_x), ("reference_x", ref)):
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
    n = tr_x.shape[0]
    if weight_decays is not None:
        wds = [float(w) for w in weight_decays]
        if not wds or min(wds) < 0 or not np.isfinite(wds).all():
            raise ConfigError(
                f"weight_decays must be a non-empty list of finite values >= 0, got {wds}"
            )
    else:
        c_list = [float(c) for c in cs]
        if not c_list or min(c_list) <= 0 or not np.isfinite(c_list).all():
            raise ConfigError(f"cs must be a non-empty list of finite values > 0, got {c_list}")
        if va_x is None:
            c_list = [1.0]
        wds = [1.0 / (n * c) for c in c_list]
    max_iter = check_positive_int(max_iter, "max_iter")

    parts = [tr_x, te_x] + ([va_x] if va_x is not None else [])
    ref = torch.cat(parts) if ref is None else ref
    tr_x, te_x = standardize(tr_x, ref, normalize), standardize(te_x, ref, normalize)
    y = torch.from_numpy(tr_y)
    if va_x is None:
        w, best_wd, val_acc = _fit(tr_x, y, num_classes, wds[0], max_iter, seed), wds[0], None
    else:
        va_x = standardize(va_x, ref, normalize)
        fits = [(_fit(tr_x, y, num_classes, wd, max_iter, seed), wd) for wd in wds]
        accs = np.array([float((_predict(fw, va_x) == va_y).mean()) for fw, _ in fits])
        ties = np.flatnonzero(accs == accs.max())
        best = int(ties[np.argmax([wds[i] for i in ties])])  # ties: the strongest regularisation
        (w, best_wd), val_acc = fits[best], float(accs[best])
    pred = _predict(w, te_x)
    return ProbeResult(
        test_accuracy=float((pred == te_y).mean()),
        val_accuracy=val_acc,
        weight_decay=best_wd,
        macro_f1=macro_f1(te_y, pred, num_classes),
        c=1.0 / (n * best_wd) if best_wd > 0 else float("inf"),
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
        **kw: forwarded to :func:`linear_probe` (e.g. ``cs``, ``max_iter``); the rows of
            ``x`` are the probe's ``reference_x`` unless ``kw`` names one.

    Returns:
        ``"test_accuracy_mean"``, ``"test_accuracy_std"`` (population std, ``ddof=0``),
        ``"macro_f1_mean"``, ``"test_accuracies"`` (list per seed), ``"val_accuracy_mean"``
        (``None`` without a validation split) and
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
    kw.setdefault("reference_x", xt)
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
        "val_accuracy_mean": (
            float(np.mean([r.val_accuracy for r in results])) if val is not None else None
        ),
        "weight_decays": [r.weight_decay for r in results],
    }
