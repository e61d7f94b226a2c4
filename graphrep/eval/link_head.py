r"""OGB's link-prediction head: a Hadamard-product MLP trained on frozen node embeddings.

The OGB link-property-prediction baselines (`Hu et al., NeurIPS 2020
<https://arxiv.org/abs/2005.00687>`_; their ``LinkPredictor``) score a candidate edge
:math:`(i, j)` by an MLP of the element-wise product of the two ends' embeddings,

.. math::
    s(i, j) = \mathrm{MLP}(\mathbf{x}_i \odot \mathbf{x}_j), \qquad
    \mathcal{L} = -\frac{1}{B}\sum_{(i,j) \in E_B} \log \sigma(s(i,j))
        - \frac{1}{B}\sum_{(i',j') \sim U} \log\bigl(1 - \sigma(s(i',j'))\bigr),

trained with binary cross-entropy on the training edges against the same number of
uniformly drawn node pairs. :func:`train_link_head` fits it on frozen embeddings
(the embeddings are an input, not trained), choosing the epoch on a validation
split carved from the training edges when one is given (best Hits@K kept); the
head then ranks the official valid/test edges against OGB's negatives in
:func:`graphrep.eval.protocols.link_prediction`.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from graphrep.errors import ShapeError
from graphrep.models.hadamard_mlp import HadamardMLP
from graphrep.train.config import LinkHeadConfig


class LinkHead:
    """A trained :class:`HadamardMLP` with the embedding scaling it was trained with."""

    def __init__(self, mlp: HadamardMLP, scale: Tensor) -> None:
        self.mlp, self.scale = mlp.eval(), scale

    @torch.no_grad()
    def score(self, x: np.ndarray, edges: np.ndarray, batch_size: int = 65536) -> np.ndarray:
        """Logits of ``edges [m, 2]`` under embeddings ``x [n, d]``."""
        t = torch.as_tensor(np.asarray(x, dtype=np.float32)) * self.scale
        e = torch.as_tensor(np.asarray(edges, dtype=np.int64).reshape(-1, 2))
        out = [self.mlp(t[b[:, 0]], t[b[:, 1]]) for b in e.split(batch_size)]
        return torch.cat(out).numpy() if out else np.zeros(0, np.float32)


def train_link_head(
    x: np.ndarray,
    train_edges: np.ndarray,
    cfg: LinkHeadConfig | None = None,
    val: tuple[np.ndarray, np.ndarray] | None = None,
    k: int = 20,
) -> tuple[LinkHead, list[float]]:
    """Fit the head on frozen embeddings (see the module docstring).

    Args:
        x: ``[n, d]`` node embeddings.
        train_edges: ``[m, 2]`` training edges (positives).
        cfg: settings (default :class:`LinkHeadConfig`).
        val: ``(positive edges, negative edges)`` carved from the training data; the head of
            the epoch with the best Hits@``k`` on it is returned.
        k: Hits@K of the validation.

    Returns:
        ``(head, validation Hits@k per epoch)`` (an empty list without ``val``).
    """
    from graphrep.eval.validation import hits_at_k

    cfg = cfg or LinkHeadConfig()
    x = np.asarray(x, dtype=np.float32)
    edges = np.asarray(train_edges, dtype=np.int64)
    if x.ndim != 2 or edges.ndim != 2 or edges.shape[1] != 2 or len(edges) == 0:
        raise ShapeError(f"train_link_head: need x [n, d] and edges [m>0, 2], got {x.shape}, {edges.shape}")
    if edges.min() < 0 or edges.max() >= len(x):
        raise ShapeError(f"train_link_head: edge ids must be in [0, {len(x)})")
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    xt = torch.from_numpy(x)
    scale = 1.0 / xt.std(0).clamp_min(1e-6) if cfg.standardize else torch.ones(x.shape[1])
    xt = xt * scale
    mlp = HadamardMLP(x.shape[1], cfg.hidden, cfg.layers, cfg.dropout)
    opt = torch.optim.Adam(mlp.parameters(), lr=cfg.lr)
    e = torch.from_numpy(edges)
    history: list[float] = []
    best, best_state = -1.0, None
    for _ in range(cfg.epochs):
        mlp.train()
        for idx in torch.randperm(len(e), generator=gen).split(cfg.batch_size):
            pos = e[idx]
            neg = torch.randint(0, len(x), (len(idx), 2), generator=gen)
            logit_p = mlp(xt[pos[:, 0]], xt[pos[:, 1]])
            logit_n = mlp(xt[neg[:, 0]], xt[neg[:, 1]])
            loss = F.softplus(-logit_p).mean() + F.softplus(logit_n).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if val is not None:
            head = LinkHead(mlp, scale)
            value = hits_at_k(head.score(x, val[0]), head.score(x, val[1]), k)
            history.append(value)
            if value > best:
                best, best_state = value, copy.deepcopy(mlp.state_dict())
    if best_state is not None:
        mlp.load_state_dict(best_state)
    return LinkHead(mlp, scale), history
