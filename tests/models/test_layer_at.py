"""encoder_layer_at: one query position per row equals the full layer's row there."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from graphrep.models.layer_at import encoder_layer_at


@pytest.mark.parametrize("norm_first", [True, False])
def test_the_row_at_each_position_matches_the_full_layer(norm_first):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=norm_first).eval()  # fmt: skip
    x = torch.randn(3, 5, 8)
    blocked = torch.rand(3 * 2, 5, 5) > 0.6
    blocked[:, torch.arange(5), torch.arange(5)] = False  # every query sees itself
    at = torch.tensor([4, 0, 2])
    with torch.no_grad():
        full = layer(x, src_mask=blocked)
        rows = blocked.view(3, 2, 5, 5)[torch.arange(3), :, at].reshape(6, 1, 5)
        got = encoder_layer_at(layer, x, at, rows)
        torch.testing.assert_close(got, full[torch.arange(3), at], atol=1e-6, rtol=1e-5)
        unmasked = encoder_layer_at(layer, x, at)
        torch.testing.assert_close(unmasked, layer(x)[torch.arange(3), at], atol=1e-6, rtol=1e-5)
