"""CLS read-out over flat token sets: equals nn.TransformerEncoder at position 0 (values and
gradients), several encoders at once, dropout, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from graphrep.errors import ConfigError
from graphrep.models.content import make_transformer
from graphrep.models.readout import TokenSet, cls_outputs, readout_key

D, H = 8, 2


def transformer(layers: int, seed: int, dropout: float = 0.0) -> nn.TransformerEncoder:
    torch.manual_seed(seed)
    tr = make_transformer(D, layers, H, dropout).double()
    for p in tr.parameters():  # away from the zero biases / unit norms of the default init
        nn.init.normal_(p, std=0.4)
    return tr


def token_set(seed: int, rows: int = 5, width: int = 6) -> tuple:
    """A flat set (the CLS parameter at column 0 of every row), its padded form and mask."""
    g = torch.Generator().manual_seed(seed)
    cls = torch.randn(D, dtype=torch.float64, generator=g, requires_grad=True)
    x = torch.randn(rows, width, D, dtype=torch.float64, generator=g)
    valid = torch.rand(rows, width, generator=g) < 0.6
    valid[:, 0] = True
    valid[0, 1:] = False  # a row with nothing but its CLS token
    x = torch.where(valid[..., None], x, 0.0).requires_grad_()
    padded = torch.cat([cls.expand(rows, 1, D), x[:, 1:]], 1)
    row, col = valid.nonzero(as_tuple=True)
    perm = torch.randperm(len(row), generator=g)  # order within the flat set does not matter
    ts = TokenSet(padded[row, col][perm], row[perm], col[perm], rows, width)
    return ts, padded, valid, cls


@pytest.mark.parametrize("layers", [1, 2])
def test_equals_the_transformer_at_the_cls_position(layers):
    tr = transformer(layers, 0)
    ts, padded, valid, cls = token_set(1)
    out = cls_outputs([ts], [tr], [cls])[0]
    ref = tr(padded, src_key_padding_mask=~valid)[:, 0]
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    w = torch.randn_like(ref)
    got = torch.autograd.grad((out * w).sum(), [cls, *tr.parameters()], allow_unused=True)
    want = torch.autograd.grad((ref * w).sum(), [cls, *tr.parameters()], allow_unused=True)
    for a, b in zip(got, want, strict=True):
        if b is None:
            assert a is None or a.abs().max() == 0
        else:
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_several_encoders_in_one_call_equal_separate_calls():
    trs = [transformer(1, 0), transformer(1, 1), transformer(2, 2)]
    sets = [token_set(s, rows=3 + s) for s in range(3)]
    together = cls_outputs([s[0] for s in sets], trs, [s[3] for s in sets])
    for tr, (ts, padded, valid, cls), out in zip(trs, sets, together, strict=True):
        torch.testing.assert_close(out, cls_outputs([ts], [tr], [cls])[0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(out, tr(padded, src_key_padding_mask=~valid)[:, 0])


def test_attention_dropout_only_in_training():
    tr = transformer(1, 3, dropout=0.5)
    ts, padded, valid, cls = token_set(4, rows=64)
    tr.eval()
    ref = tr(padded, src_key_padding_mask=~valid)[:, 0]
    torch.testing.assert_close(cls_outputs([ts], [tr], [cls])[0], ref)
    tr.train()
    torch.manual_seed(0)
    a = cls_outputs([ts], [tr], [cls])[0]
    b = cls_outputs([ts], [tr], [cls])[0]
    assert torch.isfinite(a).all() and not torch.allclose(a, b)


def test_errors():
    post = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, H, batch_first=True), 1,
                                 enable_nested_tensor=False)  # fmt: skip
    ts, _, _, cls = token_set(0)
    with pytest.raises(ConfigError, match="pre-norm"):
        cls_outputs([ts], [post.double()], [cls])
    other = make_transformer(D, 1, 4, 0.0).double()
    assert readout_key(other) != readout_key(transformer(1, 0))
    with pytest.raises(ConfigError, match="readout_key"):
        cls_outputs([ts, ts], [transformer(1, 0), other], [cls, cls])
