import math

import numpy as np
import pytest
import torch

from graphrep.errors import ConfigError, GraphValidationError, ShapeError
from graphrep.models.sampled_softmax import SampledSoftmax
from graphrep.models.sequence import SequenceEncoder, fourier_time_features

D, M = 16, 8
T0 = 1_700_000_000


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny tensors: intra-op threads only add contention on a shared machine
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def make_encoder(**kw):
    torch.manual_seed(0)
    return SequenceEncoder(**{"dim": D, "num_layers": 2, "num_heads": 2, "max_len": 12,
                              "num_actions": 3, "num_surfaces": 2, **kw})


def make_batch(B=4, seed=0, lengths=(8, 5, 1, 3)):
    """Left-padded batch: row b has lengths[b] real actions at the end."""
    g = torch.Generator().manual_seed(seed)
    item = torch.nn.functional.normalize(torch.randn(B, M, D, generator=g), dim=-1)
    action = torch.randint(0, 3, (B, M), generator=g)
    surface = torch.randint(0, 2, (B, M), generator=g)
    gaps = torch.randint(1, 50_000, (B, M), generator=g)
    ts = T0 + gaps.cumsum(dim=1)
    mask = torch.arange(M)[None, :] >= (M - torch.tensor(lengths)[:B, None])
    query = ts[:, -1] + 1000
    return item, action, surface, ts, mask, query


def test_fourier_features_exact_values():
    periods = torch.tensor([3600, 86400])
    x = torch.tensor([1800, T0 + 900])
    f = fourier_time_features(x, periods, 2)
    assert f.shape == (2, 2 * 2 * 2)
    # layout per period: [sin h=1, sin h=2, cos h=1, cos h=2]
    expected = []
    for v in (1800, T0 + 900):
        row = []
        for P in (3600, 86400):
            ang = [2 * math.pi * h * (v % P) / P for h in (1, 2)]
            row += [math.sin(a) for a in ang] + [math.cos(a) for a in ang]
        expected.append(row)
    np.testing.assert_allclose(f.numpy(), expected, atol=1e-5)
    assert f[0, 2].item() == pytest.approx(-1.0) and f[0, 3].item() == pytest.approx(1.0)


def test_time_features_with_a_hole_in_the_mask():
    enc = make_encoder(time_scales=(3600,), num_time_freqs=1)
    t = torch.tensor([[100, 999, 3700]])
    mask = torch.tensor([[True, False, True]])
    f = enc.time_features(t, mask, torch.tensor([7300]))
    assert f.shape == (1, 3, enc.num_time_features) and enc.num_time_features == 8
    # layout: abs(2) | since(2) | log1p(since/1h) | gap(2) | log1p(gap/1h)
    since, gap = [7200, 0, 3600], [0, 0, 3600]  # gap of the first action is 0; padding skipped
    for i in (0, 2):
        assert f[0, i, 4].item() == pytest.approx(math.log1p(since[i] / 3600))
        assert f[0, i, 7].item() == pytest.approx(math.log1p(gap[i] / 3600))
        ang = 2 * math.pi * (gap[i] % 3600) / 3600
        assert f[0, i, 5].item() == pytest.approx(math.sin(ang), abs=1e-6)
        assert f[0, i, 6].item() == pytest.approx(math.cos(ang), abs=1e-6)
    assert (f[0, 1] == 0).all()


def test_shapes_norms_and_padding_outputs():
    enc = make_encoder()
    item, action, surface, ts, mask, query = make_batch()
    out = enc(item, action, surface, ts, mask, query)
    assert out.shape == (4, M, D) and torch.isfinite(out).all()
    norms = out.norm(dim=-1)
    torch.testing.assert_close(norms[mask], torch.ones(int(mask.sum())))
    assert (out[~mask] == 0).all()
    user = enc.user_embedding(out, mask)
    torch.testing.assert_close(user, out[:, -1])  # left padding: the last action is at M - 1
    torch.testing.assert_close(enc.encode_users(item, action, surface, ts, mask, query), user)


def test_causal_later_positions_do_not_change_earlier_outputs():
    enc = make_encoder()
    item, action, surface, ts, mask, query = make_batch(lengths=(8, 8, 6, 7))
    base = enc(item, action, surface, ts, mask, query)
    g = torch.Generator().manual_seed(5)
    for i in range(M - 1):
        it, ac, su, t = item.clone(), action.clone(), surface.clone(), ts.clone()
        it[:, i + 1 :] = torch.randn(4, M - i - 1, D, generator=g)
        ac[:, i + 1 :] = torch.randint(0, 3, (4, M - i - 1), generator=g)
        su[:, i + 1 :] = 1 - su[:, i + 1 :]
        t[:, i + 1 :] += torch.randint(1, 500, (4, 1), generator=g)  # still sorted, <= query
        out = enc(it, ac, su, t, mask, query)
        torch.testing.assert_close(out[:, : i + 1], base[:, : i + 1], atol=1e-6, rtol=0)
        real_later = mask[:, i + 1 :]
        assert (out[:, i + 1 :] - base[:, i + 1 :]).abs().sum(-1)[real_later].min() > 1e-4


def test_default_query_time_is_latest_action():
    enc = make_encoder()
    item, action, surface, ts, mask, _ = make_batch()
    out = enc(item, action, surface, ts, mask)
    torch.testing.assert_close(out, enc(item, action, surface, ts, mask, ts[:, -1]))
    later = enc(item, action, surface, ts, mask, ts[:, -1] + 86400 * 3)
    assert (later - out).abs().max() > 1e-4  # the time since the latest action matters


def test_left_and_right_padding_agree_and_padding_is_ignored():
    enc = make_encoder()
    item, action, surface, ts, mask, query = make_batch()
    out_left = enc(item, action, surface, ts, mask, query)
    # right-pad the same actions: roll each row so its real actions come first
    idx = torch.stack([torch.roll(torch.arange(M), -int((~mask[b]).sum())) for b in range(4)])
    take = lambda x: x.gather(1, idx) if x.dim() == 2 else x.gather(  # noqa: E731
        1, idx[..., None].expand(-1, -1, D))
    r_mask = take(mask)
    assert r_mask[:, 0].all()
    out_right = enc(take(item), take(action), take(surface), take(ts), r_mask, query)
    torch.testing.assert_close(out_right[r_mask], out_left[mask], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(enc.user_embedding(out_right, r_mask),
                               enc.user_embedding(out_left, mask), atol=1e-5, rtol=1e-5)
    # garbage (NaN embeddings, out-of-range ids, bogus times) at padded positions is ignored
    it, ac, su, t = item.clone(), action.clone(), surface.clone(), ts.clone()
    it[~mask] = float("nan")
    ac[~mask], su[~mask], t[~mask] = 99, -5, 0
    torch.testing.assert_close(enc(it, ac, su, t, mask, query), out_left, atol=1e-6, rtol=0)


def test_single_action_rows_and_all_padding_rows_have_no_nan():
    enc = make_encoder()
    item, action, surface, ts, mask, query = make_batch(lengths=(1, 1, 0, 2))
    item = item.requires_grad_(True)
    out = enc(item, action, surface, ts, mask, query)
    assert torch.isfinite(out).all() and (out[2] == 0).all()
    out.sum().backward()
    assert torch.isfinite(item.grad).all()
    with pytest.raises(GraphValidationError, match="no real action"):
        enc.user_embedding(out, mask)


def test_user_embedding_takes_the_last_real_position_for_any_mask():
    g = torch.Generator().manual_seed(0)
    out = torch.randn(5, 6, 3, generator=g)
    mask = torch.rand(5, 6, generator=g) > 0.5
    mask[:, 0] = True
    got = SequenceEncoder.user_embedding(out, mask)
    for b in range(5):
        last = max(i for i in range(6) if mask[b, i])
        assert torch.equal(got[b], out[b, last])


@pytest.mark.parametrize("layers", [1, 2])
def test_encode_users_equals_every_position_then_the_last_one(layers):
    """The last layer evaluated at the last real action only (left and right padding,
    holes in the mask) gives the full forward's row there, in eval and train mode."""
    enc = make_encoder(num_layers=layers, dropout=0.0)
    item, action, surface, ts, mask, query = make_batch()
    holes = mask.clone()
    holes[0, -3] = False  # a hole before the last action
    right = torch.flip(mask, dims=[1])  # right padding: the last action is not at the end
    for m in (mask, holes, right):
        for train in (False, True):
            enc.train(train)
            want = SequenceEncoder.user_embedding(enc(item, action, surface, ts, m, query), m)
            got = enc.encode_users(item, action, surface, ts, m, query)
            torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    with pytest.raises(GraphValidationError, match="encode_users: 1 rows have no real action"):
        enc.encode_users(item, action, surface, ts, mask & (torch.arange(4) != 2)[:, None], query)


def test_gradients_reach_every_parameter_and_upstream_encoder():
    enc = make_encoder(dropout=0.1)
    upstream = torch.nn.Embedding(50, D)  # stands in for the entity encoders
    _, action, surface, ts, mask, query = make_batch()
    action[:, -3:] = torch.tensor([0, 1, 2])  # every action and surface id is used
    surface[:, -2:] = torch.tensor([0, 1])
    ids = torch.randint(0, 50, (4, M), generator=torch.Generator().manual_seed(1))
    item = upstream(ids)
    item.retain_grad()
    out = enc(item, action, surface, ts, mask, query)
    target = torch.randn(4, M, D, generator=torch.Generator().manual_seed(2))
    (out * target).sum().backward()
    for name, prm in enc.named_parameters():
        assert prm.grad is not None and prm.grad.abs().sum() > 0, name
    assert upstream.weight.grad.abs().sum() > 0
    assert (item.grad[mask].abs().sum(-1) > 0).all() and (item.grad[~mask] == 0).all()


def test_eval_mode_matches_train_mode_without_dropout():
    enc = make_encoder()
    batch = make_batch()
    out = enc(*batch)
    enc.eval()
    with torch.no_grad():
        torch.testing.assert_close(enc(*batch), out, atol=1e-5, rtol=1e-5)


def test_learns_to_predict_the_next_item():
    # next item = (item two steps back) + 1 mod V: needs the order and content of the history
    torch.manual_seed(0)
    V, B = 12, 32
    enc = make_encoder(num_layers=1)
    table = torch.nn.Embedding(V, D)
    loss_fn = SampledSoftmax(negatives="in_batch", logq=False, remove_duplicates=False)
    params = [*enc.parameters(), *table.parameters(), *loss_fn.parameters()]
    opt = torch.optim.Adam(params, lr=3e-3)
    g = torch.Generator().manual_seed(3)
    start = torch.randint(0, V, (B, 2), generator=g)
    seq = [start[:, 0], start[:, 1]]
    for _ in range(M - 1):
        seq.append((seq[-2] + 1) % V)
    seq = torch.stack(seq, dim=1)  # [B, M + 1]
    hist, nxt = seq[:, :M], seq[:, M]
    ts = T0 + torch.arange(M).expand(B, M) * 600
    mask = torch.ones(B, M, dtype=torch.bool)
    zeros = torch.zeros(B, M, dtype=torch.long)

    def users():
        return enc.encode_users(torch.nn.functional.normalize(table(hist), dim=-1), zeros,
                                zeros, ts, mask)

    def accuracy():
        with torch.no_grad():
            scores = users() @ torch.nn.functional.normalize(table.weight, dim=-1).T
            return (scores.argmax(1) == nxt).float().mean().item()

    assert accuracy() < 0.5
    for _ in range(150):
        pos = torch.nn.functional.normalize(table(nxt), dim=-1)
        loss = loss_fn(users(), pos, positive_ids=nxt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5  # chance level is about log(12) = 2.5
    assert accuracy() >= 0.9


def test_errors():
    enc = make_encoder()
    item, action, surface, ts, mask, query = make_batch()
    with pytest.raises(ShapeError, match=r"item_emb must have shape \(4, 8, 16\)"):
        enc(item[..., :-1], action, surface, ts, mask, query)
    with pytest.raises(ShapeError, match=r"mask must be a torch\.bool"):
        enc(item, action, surface, ts, mask.long(), query)
    with pytest.raises(ShapeError, match="action must be an integer"):
        enc(item, action.float(), surface, ts, mask, query)
    with pytest.raises(ShapeError, match="timestamp must be an integer"):
        enc(item, action, surface, ts.double(), mask, query)
    with pytest.raises(ShapeError, match="surface must have shape"):
        enc(item, action, surface[:, :-1], ts, mask, query)
    with pytest.raises(ShapeError, match="query_time must have shape"):
        enc(item, action, surface, ts, mask, query[:2])
    with pytest.raises(ShapeError, match="item_emb must be"):
        enc(item[0], action, surface, ts, mask, query)
    long_batch = make_batch()
    big = SequenceEncoder(dim=D, num_heads=2, max_len=4)
    with pytest.raises(ShapeError, match="exceeds max_len=4"):
        big(*long_batch)
    bad = action.clone()
    bad[0, -1] = 3
    with pytest.raises(GraphValidationError, match=r"action ids .* \[0, 3\)"):
        enc(item, bad, surface, ts, mask, query)
    unsorted = ts.clone()
    unsorted[0, -1] = unsorted[0, -2] - 1
    with pytest.raises(GraphValidationError, match="non-decreasing"):
        enc(item, action, surface, unsorted, mask, query)
    with pytest.raises(GraphValidationError, match="before the row's latest"):
        enc(item, action, surface, ts, mask, ts[:, -1] - 1)
    for kw in (dict(dim=10, num_heads=4), dict(time_scales=()), dict(time_scales=(3600.5,)),
               dict(dropout=1.5), dict(num_layers=0)):
        with pytest.raises(ConfigError):
            SequenceEncoder(**kw)
