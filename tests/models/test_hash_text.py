"""HashTextEmbedder: determinism, order, padding, collisions, shapes, errors."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from graphrep.errors import ConfigError, ShapeError
from graphrep.models.hash_text import (
    MASK31,
    HashTextEmbedder,
    bigram_ids,
    char_trigrams,
    hash_ids,
    split_words,
    string_id,
    tokenize,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: intra-op threads only add contention on a shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def emb(**kw) -> HashTextEmbedder:
    torch.manual_seed(0)
    return HashTextEmbedder(**{"num_buckets": 512, "dim": 16, **kw})


def test_same_text_same_vector_and_shapes():
    e = emb()
    tok = torch.tensor([[3, 1, 4, 1], [3, 1, 4, 1], [5, 9, 2, 6]])
    out = e(tok)
    assert out.shape == (3, 16)
    assert torch.equal(out[0], out[1]) and not torch.allclose(out[0], out[2])
    # leading shape [B, k] gives the same rows as the flattened batch
    tok2 = torch.randint(0, 1000, (2, 3, 5))
    mask2 = torch.rand(2, 3, 5) < 0.7
    out2 = e(tok2, mask2)
    assert out2.shape == (2, 3, 16)
    torch.testing.assert_close(out2.reshape(6, 16), e(tok2.reshape(6, 5), mask2.reshape(6, 5)))
    # LayerNorm output: zero mean, unit variance per row (default affine init)
    torch.testing.assert_close(out.mean(-1), torch.zeros(3), atol=1e-5, rtol=0)


def test_order_matters_only_through_bigrams():
    tok = torch.tensor([[10, 20, 30, 40]])
    perm = tok[:, [2, 0, 3, 1]]
    no_bi = emb(bigrams=False)
    torch.testing.assert_close(no_bi(tok), no_bi(perm), atol=1e-6, rtol=0)
    bi = emb(bigrams=True)
    assert (bi(tok) - bi(perm)).abs().max() > 1e-2


def test_padding_has_no_effect():
    e = emb()
    tok = torch.tensor([[7, 8, 9, 0, 0]])
    mask = torch.tensor([[True, True, True, False, False]])
    ref = e(tok, mask)
    junk = torch.tensor([[7, 8, 9, 123, 456]])
    assert torch.equal(e(junk, mask), ref)
    assert torch.equal(e(tok[:, :3]), ref)  # no padding at all
    # an all-padding row is finite (the LayerNorm bias) and equals an empty row
    empty = e(torch.tensor([[5, 6]]), torch.tensor([[False, False]]))
    assert torch.isfinite(empty).all()
    torch.testing.assert_close(empty, e(torch.zeros(1, 0, dtype=torch.long)))


def test_gradient_reaches_only_used_rows():
    e = emb(bigrams=False, num_hashes=2)
    tok = torch.tensor([[11, 12, 99]])
    mask = torch.tensor([[True, True, False]])
    (e(tok, mask) * torch.randn(16)).sum().backward()
    used = set(e.bucket_ids(torch.tensor([11, 12])).reshape(-1).tolist())
    nonzero = set(torch.nonzero(e.weight.grad.abs().sum(1)).reshape(-1).tolist())
    assert nonzero == used
    assert e.norm.weight.grad is not None and e.norm.weight.grad.abs().sum() > 0


def test_distinct_words_rarely_collide_in_both_hashes():
    e = HashTextEmbedder(num_buckets=1024, dim=4)
    ids = torch.arange(2000) * 7919 + 13
    b = e.bucket_ids(ids)  # [2000, 2]
    assert b.shape == (2000, 2) and int(b.min()) >= 0 and int(b.max()) < 1024
    same1 = (b[:, None, 0] == b[None, :, 0]).triu(1)
    same2 = (b[:, None, 1] == b[None, :, 1]).triu(1)
    pairs = 2000 * 1999 / 2
    # one hash: ~pairs / N collisions (1952); both: ~pairs / N^2 (1.9)
    assert 0.8 * pairs / 1024 < int(same1.sum()) < 1.2 * pairs / 1024
    assert 0.8 * pairs / 1024 < int(same2.sum()) < 1.2 * pairs / 1024
    assert int((same1 & same2).sum()) <= 10
    # the two hash functions are (close to) independent: h1 == h2 about 1/N of the time
    assert int((b[:, 0] == b[:, 1]).sum()) <= 10


def test_hash_is_uniform_on_consecutive_ids():
    counts = torch.bincount(hash_ids(torch.arange(64_000), 0) % 64, minlength=64).double()
    chi2 = float(((counts - 1000) ** 2 / 1000).sum())
    assert chi2 < 120  # chi-square, 63 dof: p < 1e-5 above ~120


def test_no_overflow_on_extreme_ids():
    x = torch.tensor([0, 1, -1, -(2**62), 2**62, 2**63 - 1, -(2**63)])
    for k in range(2):
        h = hash_ids(x, k)
        assert int(h.min()) >= 0 and int(h.max()) <= MASK31
    bg = bigram_ids(x, x.flip(0))
    assert int(bg.min()) >= 0 and int(bg.max()) <= MASK31
    assert torch.isfinite(emb()(x[None])).all()
    assert (
        bigram_ids(torch.tensor([1]), torch.tensor([2]))
        != bigram_ids(torch.tensor([2]), torch.tensor([1]))
    ).all()
    with pytest.raises(ConfigError, match="hash function index"):
        hash_ids(x, 99)


def test_string_ids_are_stable_blake2b():
    d = hashlib.blake2b(b"wcat", digest_size=8).digest()
    assert string_id("cat") == int.from_bytes(d, "little") & MASK31
    assert string_id("cat") != string_id("cat", b"c")
    assert split_words("Red Cats, red-DOGS!") == ["red", "cats", "red", "dogs"]
    assert char_trigrams("cat") == ["#ca", "cat", "at#"] and char_trigrams("a") == ["#a#"]
    r = tokenize(["red cat", "", "cat"])
    assert r.to_lists() == [[string_id("red"), string_id("cat")], [], [string_id("cat")]]


def test_embed_strings_matches_token_path_and_uses_trigrams():
    texts = ["red cat sat", "blue dog", ""]
    e = emb(char_trigrams=False)
    tok, mask = tokenize(texts).to_padded(np.arange(3), 4)
    torch.testing.assert_close(
        e.embed_strings(texts), e(torch.from_numpy(tok), torch.from_numpy(mask)), atol=1e-6, rtol=0
    )
    tri = emb(char_trigrams=True, bigrams=False, dim=512, num_buckets=4096)
    v = tri.embed_strings(["cat", "cats", "dog"])
    cos = torch.nn.functional.cosine_similarity
    # "cat"/"cats" share 4 of 8 and 10 rows (cos ~ 0.45); "cat"/"dog" share none (cos ~ 0)
    assert cos(v[0], v[1], dim=0) > 0.3 and abs(cos(v[0], v[2], dim=0)) < 0.15
    with pytest.raises(ShapeError, match="sequence of strings"):
        e.embed_strings("a single string")


def test_hash_text_errors():
    e = emb()
    with pytest.raises(ShapeError, match="tokens must be an integer"):
        e(torch.tensor([[1.0, 2.0]]))
    with pytest.raises(ShapeError, match="mask must be a bool tensor"):
        e(torch.tensor([[1, 2]]), torch.tensor([[1, 0]]))
    with pytest.raises(ShapeError, match="mask must be a bool tensor"):
        e(torch.tensor([[1, 2]]), torch.tensor([[True]]))
    with pytest.raises(ConfigError, match="num_hashes"):
        HashTextEmbedder(num_hashes=9)


def test_embed_many_equals_separate_calls_values_and_gradients():
    e = emb()
    a = (torch.tensor([[3, 1, 4], [5, 9, 0]]), torch.tensor([[True, True, True], [True, True, False]]))
    b = (torch.tensor([[2, 7, 1, 8, 2]]), torch.tensor([[True, True, True, True, False]]))
    grads = []
    for together in (False, True):
        e.zero_grad()
        outs = e.embed_many([a, b]) if together else [e(*a), e(*b)]
        (outs[0].square().sum() + 2 * outs[1].sum()).backward()
        grads.append((outs, e.weight.grad.to_dense().clone()))
    (sep, g_sep), (many, g_many) = grads
    assert [o.shape for o in many] == [(2, 16), (1, 16)]
    for x, y in zip(many, sep, strict=True):
        torch.testing.assert_close(x, y)
    torch.testing.assert_close(g_many, g_sep)
    assert e.embed_many([a])[0].shape == (2, 16)
