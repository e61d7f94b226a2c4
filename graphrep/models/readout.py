r"""The CLS read-out of a pre-norm transformer, computed only where the output is read.

An encoder that keeps only the output at the CLS position needs, from the *last*
layer, one query per row; the feed-forward block, the output projection and the final
LayerNorm run on that one position. The keys and values of the other tokens enter
only through the attention, and there the projections can be moved off the tokens.
With :math:`\mathbf{n}_j = (\mathbf{x}_j - \mu_j)/\sigma_j` the normalised token (the
pre-norm :math:`\mathrm{LN}_1(\mathbf{x}_j) = \boldsymbol\gamma \odot \mathbf{n}_j +
\boldsymbol\beta`) and :math:`\mathbf{q}_h` head :math:`h` of the CLS query, the score of
token :math:`j` is

.. math::
    \frac{\mathbf{q}_h^\top (W^K_h \mathrm{LN}_1(\mathbf{x}_j) + \mathbf{b}^K_h)}{\sqrt{d_h}}
    = \mathbf{u}_h^\top \mathbf{n}_j + c_h, \qquad
    \mathbf{u}_h = \boldsymbol\gamma \odot \frac{W^{K\top}_h \mathbf{q}_h}{\sqrt{d_h}},

where :math:`c_h` is the same for every token of the row and cancels in the softmax;
and with :math:`p_{hj}` the attention weights and :math:`s_h = \sum_j p_{hj}` (1
without attention dropout) head :math:`h` of the attention output is

.. math::
    \sum_j p_{hj} (W^V_h \mathrm{LN}_1(\mathbf{x}_j) + \mathbf{b}^V_h)
    = W^V_h (\boldsymbol\gamma \odot \mathbf{m}_h) + s_h (W^V_h \boldsymbol\beta + \mathbf{b}^V_h),
    \qquad \mathbf{m}_h = \sum_j p_{hj} \mathbf{n}_j .

So a token costs one LayerNorm without parameters and :math:`2 H D` multiply-adds (its
scores and its share of :math:`\mathbf{m}`), against :math:`2 D^2` for its key and value
and :math:`12 D^2` more for a full position, and the result is that of
:class:`torch.nn.TransformerEncoder` up to the order of float additions (in a one-layer
encoder whose CLS input is a learned vector, :math:`\mathbf{u}` is one matrix per type).
Tokens come as a flat set (:class:`TokenSet`): only the valid ones of each row, so
every per-token product (gates, projections, the LayerNorm, the scores) skips the
padding; the softmax and the weighted sum then run as dense kernels on the scores and
normalised tokens scattered into the padded layout. Earlier layers of a deeper encoder,
where every position is a query, run as usual on the padded layout.

Token sets of several encoders are read out in one pass: their tokens are normalised,
scored, softmaxed and pooled together, and only the per-row matrices (a few ``[B, D]``
products per encoder) run per encoder.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrep.errors import ConfigError


@dataclass
class TokenSet:
    """The tokens of ``num_rows`` rows, flat: only the valid ones.

    Args:
        x: ``[N, D]`` tokens.
        row: ``LongTensor [N]``, the row of each token (every row has its CLS token).
        column: ``LongTensor [N]``, its position in the padded ``[num_rows, width]`` layout
            (the CLS token at 0; used by encoders with more than one layer).
        num_rows: ``B``.
        width: length of the padded layout.
    """

    x: Tensor
    row: Tensor
    column: Tensor
    num_rows: int
    width: int


def _check(tr: nn.TransformerEncoder) -> None:
    for layer in tr.layers:
        att = layer.self_attn
        if not layer.norm_first or not att._qkv_same_embed_dim or att.bias_k is not None:
            raise ConfigError("cls_outputs needs pre-norm layers with a packed in-projection")


def _deeper_layers(tr: nn.TransformerEncoder, ts: TokenSet) -> tuple[Tensor, Tensor]:
    """Run every layer but the last on the padded layout; the last layer's flat input and
    the rows' CLS inputs."""
    d = ts.x.shape[1]
    x = ts.x.new_zeros(ts.num_rows, ts.width, d).index_put((ts.row, ts.column), ts.x)
    valid = torch.zeros(ts.num_rows, ts.width, dtype=torch.bool, device=x.device)
    valid[ts.row, ts.column] = True
    for layer in tr.layers[:-1]:
        x = layer(x, src_key_padding_mask=~valid)
    return x[ts.row, ts.column], x[:, 0]


def readout_key(tr: nn.TransformerEncoder) -> tuple[int, int, float, float]:
    """Transformers with equal keys (width, heads, LayerNorm epsilon, attention dropout)
    can be read out in one :func:`cls_outputs` call."""
    att = tr.layers[-1].self_attn
    return att.embed_dim, att.num_heads, tr.layers[-1].norm1.eps, att.dropout


def cls_outputs(
    sets: Sequence[TokenSet], transformers: Sequence[nn.TransformerEncoder], cls: Sequence[Tensor]
) -> list[Tensor]:
    """The final-LayerNorm output at the CLS position of each transformer over its tokens.

    Args:
        sets: one :class:`TokenSet` per encoder (each row's CLS token at column 0).
        transformers: the encoders' pre-norm transformers (same width, heads, LayerNorm
            epsilon and attention dropout: :func:`readout_key`).
        cls: the learned CLS token ``[D]`` of each (the CLS input of a one-layer encoder).

    Returns:
        ``[B_i, D]`` per set, equal to ``transformer(padded tokens, mask)[:, 0]``.
    """
    for tr in transformers:
        _check(tr)
    if len({readout_key(tr) for tr in transformers}) > 1:
        raise ConfigError("cls_outputs: transformers read out together must share readout_key()")
    d, heads, eps, drop = readout_key(transformers[0])
    dh = d // heads
    flat, x0s = [], []
    for ts, tr, c in zip(sets, transformers, cls, strict=True):
        x, x0 = _deeper_layers(tr, ts) if len(tr.layers) > 1 else (ts.x, c[None])
        flat.append(x)
        x0s.append(x0)
    n = F.layer_norm(_cat(flat), (d,), eps=eps)
    rows, scores, start, base = [], [], 0, 0
    for ts, tr, x0 in zip(sets, transformers, x0s, strict=True):
        layer = tr.layers[-1]
        wq, wk, _ = layer.self_attn.in_proj_weight.split(d)
        q = F.linear(layer.norm1(x0), wq, layer.self_attn.in_proj_bias[:d]).view(-1, heads, dh)
        u = torch.einsum("hkd,bhk->bhd", wk.view(heads, dh, d), q)
        u = u * (layer.norm1.weight / math.sqrt(dh))
        nj = n[start : start + len(ts.row)]
        if u.shape[0] == 1:  # one query for every row
            scores.append(nj @ u[0].T)
        else:
            scores.append(torch.einsum("nd,nhd->nh", nj, u.index_select(0, ts.row)))
        rows.append(ts.row + base if base else ts.row)
        start, base = start + len(ts.row), base + ts.num_rows
    # attention over each row's tokens: scattered into a padded [rows, width] layout, where
    # the softmax and the weighted sum are dense kernels (padding: -inf scores, zero tokens)
    row, col = _cat(rows), _cat([ts.column for ts in sets])
    width = max(ts.width for ts in sets)
    s = n.new_full((base, width, heads), -math.inf).index_put((row, col), _cat(scores))
    p = torch.softmax(s, 1)
    mass = None
    if drop > 0 and transformers[0].training:
        p = F.dropout(p, drop)
        mass = p.sum(1)[:, :, None]
    pooled = torch.bmm(p.transpose(1, 2), n.new_zeros(base, width, d).index_put((row, col), n))
    out, base = [], 0
    for ts, tr, x0 in zip(sets, transformers, x0s, strict=True):
        layer = tr.layers[-1]
        rows_of = slice(base, base + ts.num_rows)
        base += ts.num_rows
        wv = layer.self_attn.in_proj_weight[2 * d :].view(heads, dh, d)
        shift = wv @ layer.norm1.bias + layer.self_attn.in_proj_bias[2 * d :].view(heads, dh)
        m = pooled[rows_of] * layer.norm1.weight
        att = torch.einsum("hkd,bhd->bhk", wv, m) + (shift if mass is None else mass[rows_of] * shift)
        y = x0 + layer.dropout1(layer.self_attn.out_proj(att.reshape(-1, d)))
        h = layer.linear2(layer.dropout(layer.activation(layer.linear1(layer.norm2(y)))))
        y = y + layer.dropout2(h)
        out.append(tr.norm(y) if tr.norm is not None else y)
    return out


def _cat(parts: list[Tensor]) -> Tensor:
    return torch.cat(parts) if len(parts) > 1 else parts[0]
