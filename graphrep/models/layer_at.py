r"""A transformer encoder layer evaluated at one query position per row.

A user's PinnerFormer embedding is the sequence encoder's output at their last action
(:meth:`~graphrep.models.sequence.SequenceEncoder.encode_users`). Only the last layer's
output at that position is read, so that layer needs its keys and values at every
position but its query, attention output, residuals and feed-forward block at one:

.. math::
    x'_p = x_p + \mathrm{Attn}\big(\mathrm{LN}_1(x)_p,\ \mathrm{LN}_1(x),\
    \mathrm{LN}_1(x)\big), \qquad y_p = x'_p + \mathrm{FFN}\big(\mathrm{LN}_2(x'_p)\big)

for a pre-norm layer (``norm_first=True``; a post-norm layer applies the norms after
each residual). With ``M`` positions this skips :math:`(M-1)/M` of the layer's
feed-forward and projection work -- most of a one-layer encoder's cost -- and gives the
same numbers as evaluating every position and taking row ``p`` (up to float rounding:
PyTorch's fused inference kernel sums in another order).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def encoder_layer_at(layer: nn.TransformerEncoderLayer, x: Tensor, at: Tensor,
                     attn_mask: Tensor | None = None) -> Tensor:
    """``layer``'s output ``[B, D]`` at position ``at[b]`` of each row of ``x [B, M, D]``
    (``batch_first``).

    Args:
        layer: the layer (pre- or post-norm).
        x: its input.
        at: ``[B]`` long, the query position of each row.
        attn_mask: the rows ``at`` of the layer's attention mask, ``[B * heads, 1, M]``
            bool (True: not attended) or float, as ``nn.MultiheadAttention`` takes it.
    """
    rows = torch.arange(x.shape[0], device=x.device)
    xp = x[rows, at].unsqueeze(1)  # [B, 1, D]

    def attend(q: Tensor, kv: Tensor) -> Tensor:
        out = layer.self_attn(q, kv, kv, attn_mask=attn_mask, need_weights=False)[0]
        return layer.dropout1(out)

    def feed_forward(z: Tensor) -> Tensor:
        return layer.dropout2(layer.linear2(layer.dropout(layer.activation(layer.linear1(z)))))

    if layer.norm_first:
        y = layer.norm1(x)
        xp = xp + attend(y[rows, at].unsqueeze(1), y)
        xp = xp + feed_forward(layer.norm2(xp))
    else:
        xp = layer.norm1(xp + attend(xp, x))
        xp = layer.norm2(xp + feed_forward(xp))
    return xp.squeeze(1)


__all__ = ["encoder_layer_at"]
