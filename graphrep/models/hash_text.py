r"""Hash embeddings of text (:class:`HashTextEmbedder`) and the hash functions node-id tables use.

Text is embedded without a vocabulary, as in ItemSage
(`"ItemSage: Learning Product Embeddings for Shopping Recommendations at
Pinterest" <https://arxiv.org/abs/2205.11728>`_) and OmniSearchSage
(`<https://arxiv.org/abs/2404.16260>`_): every n-gram ``g`` (word unigrams,
word bigrams, and for raw strings character trigrams) is hashed by ``H``
independent hash functions into a table ``E`` of ``N`` rows, and the text
embedding is the layer-normalised sum

.. math::
    \mathbf{e}(x) = \mathrm{LayerNorm}\Big(\sum_{g \in \mathrm{grams}(x)}
    \sum_{k=1}^{H} \mathbf{E}\big[h_k(g) \bmod N\big]\Big).

Two hashes make two words sharing *both* rows unlikely (probability about
``1 / N^2`` per pair), so the table can be much smaller than the vocabulary.

All hashing is done in ``int64`` torch arithmetic on 31-bit values: a product of
two values below ``2**31`` stays below ``2**62``, so nothing ever overflows and
results are identical on every device. Strings are mapped to ids with BLAKE2b
(stable across processes, unlike Python's salted ``hash()``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrep.errors import ConfigError, ShapeError
from graphrep.graph.ragged import Ragged

MASK31 = (1 << 31) - 1
# odd multipliers < 2**31 (from splitmix/murmur constants, truncated to 31 bits)
_MULT = (
    0x7FEB352D,
    0x846CA68B & MASK31,
    0x5BD1E995,
    0x27D4EB2F,
    0x165667B1,
    0x1B873593,
    0x4CF5AD43,
    0x2545F491,
    0x6C8E9CF5,
    0x3C6EF372 | 1,
)
_SEED = (
    0x2F0B3A5D,
    0x61C88647,
    0x1E3779B9,
    0x5851F42D,
    0x14057B7E,
    0x0F2D1E47,
    0x72C7D3A9,
    0x3A8F05C5,
    0x09E3779B,
    0x51ED2705,
)
_BIGRAM_SEED = 0x3C6EF372
_WORD_RE = re.compile(r"\w+")
_MAX_HASHES = 7  # k uses _MULT[k], _MULT[k + 1]; the bigram mixer uses the last two


def _mix(x: Tensor, mult: int) -> Tensor:
    """One multiply-fold round on 31-bit non-negative ``int64`` values (no overflow)."""
    p = x * mult  # < 2**62
    return (p ^ (p >> 31)) & MASK31


def hash_ids(x: Tensor, k: int) -> Tensor:
    """The ``k``-th hash function of integer tensor ``x`` (any shape) into ``[0, 2**31)``.

    ``h_k(x) = mix(mix((x & (2^31 - 1)) ^ s_k, a_k), b_k)`` with per-``k`` seeds and odd
    multipliers; negative inputs are masked to their low 31 bits first.
    """
    if not 0 <= k < _MAX_HASHES:
        raise ConfigError(f"hash function index k must be in [0, {_MAX_HASHES - 1}], got {k}")
    x = (x.long() & MASK31) ^ _SEED[k]
    return _mix(_mix(x, _MULT[k]), _MULT[k + 1])


def bigram_ids(a: Tensor, b: Tensor) -> Tensor:
    """Order-sensitive 31-bit id of the pair ``(a, b)`` (``bigram(a, b) != bigram(b, a)``)."""
    x = _mix((a.long() & MASK31) ^ _BIGRAM_SEED, _MULT[-1])
    return _mix(x ^ (b.long() & MASK31), _MULT[-2])


def string_id(s: str, namespace: bytes = b"w") -> int:
    """Stable 31-bit id of a string (BLAKE2b; ``namespace`` separates words from trigrams)."""
    digest = hashlib.blake2b(namespace + s.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & MASK31


def split_words(text: str) -> list[str]:
    """Lower-cased word tokens (``\\w+`` runs) of ``text``."""
    return _WORD_RE.findall(text.lower())


def char_trigrams(word: str) -> list[str]:
    """Character trigrams of ``"#" + word + "#"`` (``"cat"`` -> ``["#ca", "cat", "at#"]``)."""
    w = f"#{word}#"
    return [w[i : i + 3] for i in range(len(w) - 2)]


def tokenize(texts: Sequence[str]) -> Ragged:
    """Word ids of each string as a :class:`Ragged` (``int64``), e.g. to store as a graph feature.

    The ids are those :meth:`HashTextEmbedder.embed_strings` uses, so
    ``embedder(tokens)`` equals ``embedder.embed_strings(texts)`` when
    ``char_trigrams=False``.
    """
    return Ragged.from_lists(
        [[string_id(w) for w in split_words(t)] for t in texts], dtype=np.int64
    )


class HashTextEmbedder(nn.Module):
    r"""Vocabulary-free text embedder with hashed n-grams (ItemSage / OmniSearchSage).

    .. math::
        \mathbf{e}(x) = \mathrm{LayerNorm}\Big(\sum_{g \in U(x) \cup B(x) \cup C(x)}
        \sum_{k=1}^{H} \mathbf{E}\big[h_k(g) \bmod N\big]\Big)

    where :math:`U` are the token (word) ids, :math:`B` the bigrams of adjacent
    valid tokens (when ``bigrams``), and :math:`C` character trigrams of each
    word (only for raw strings via :meth:`embed_strings`, when :obj:`char_trigrams`;
    token ids carry no characters). Sum pooling makes the output independent of
    token order except through bigrams.

    Args:
        num_buckets (int, optional): rows :math:`N` of the shared table.
            (default: :obj:`2**17`)
        dim (int, optional): embedding size. (default: :obj:`128`)
        num_hashes (int, optional): hash functions :math:`H` per n-gram.
            (default: :obj:`2`)
        bigrams (bool, optional): add word bigrams. (default: :obj:`True`)
        char_trigrams (bool, optional): add character trigrams in
            :meth:`embed_strings`. (default: :obj:`True`)
        sparse (bool, optional): sparse gradients for the table (for
            ``torch.optim.SparseAdam``). (default: :obj:`False`)
    """

    def __init__(
        self,
        num_buckets: int = 2**17,
        dim: int = 128,
        num_hashes: int = 2,
        bigrams: bool = True,
        char_trigrams: bool = True,
        sparse: bool = False,
    ) -> None:
        super().__init__()
        if num_buckets < 1 or dim < 1:
            raise ConfigError(f"num_buckets and dim must be >= 1, got {num_buckets} and {dim}")
        if not 1 <= num_hashes <= 4:
            raise ConfigError(f"num_hashes must be in [1, 4], got {num_hashes}")
        self.num_buckets, self.dim, self.num_hashes = num_buckets, dim, num_hashes
        self.bigrams, self.char_trigrams, self.sparse = bigrams, char_trigrams, sparse
        self.weight = nn.Parameter(torch.empty(num_buckets, dim))
        self.norm = nn.LayerNorm(dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, std=self.dim**-0.5)
        self.norm.reset_parameters()

    def bucket_ids(self, grams: Tensor) -> Tensor:
        """Rows of n-gram ids ``grams [...]`` for each hash function: ``[..., num_hashes]``."""
        return torch.stack(
            [hash_ids(grams, k) % self.num_buckets for k in range(self.num_hashes)], -1
        )

    def grams(self, tokens: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """N-gram ids and validity of token rows: unigrams then bigrams, ``[..., G]`` each."""
        grams, valid = [tokens & MASK31], [mask]
        if self.bigrams and tokens.shape[-1] > 1:
            grams.append(bigram_ids(tokens[..., :-1], tokens[..., 1:]))
            valid.append(mask[..., :-1] & mask[..., 1:])
        return torch.cat(grams, -1), torch.cat(valid, -1)

    def pool(self, grams: Tensor, valid: Tensor) -> Tensor:
        """Sum of the hashed rows of each row's valid n-grams, then LayerNorm: ``[..., dim]``."""
        lead, width = grams.shape[:-1], grams.shape[-1]
        rows = lead.numel()
        buckets = self.bucket_ids(grams.reshape(rows, width))  # [N, G, H]
        keep = valid.reshape(rows, width, 1).expand_as(buckets)
        counts = keep.sum(dim=(1, 2))
        offsets = torch.cumsum(counts, 0) - counts
        summed = F.embedding_bag(
            buckets[keep], self.weight, offsets, mode="sum", sparse=self.sparse
        )
        return self.norm(summed).reshape(*lead, self.dim)

    def forward(self, tokens: Tensor, mask: Tensor | None = None) -> Tensor:
        """Embed padded token-id rows.

        Args:
            tokens: ``LongTensor [..., L]`` token ids (any leading shape).
            mask: ``BoolTensor [..., L]``, True for real tokens (all True if None).
                Masked positions have no effect at all.

        Returns:
            ``FloatTensor [..., dim]``.
        """
        if not isinstance(tokens, Tensor) or tokens.dtype not in (torch.long, torch.int32):
            raise ShapeError(
                f"tokens must be an integer (long) tensor [..., L], got {_desc(tokens)}"
            )
        if tokens.dim() < 1:
            raise ShapeError("tokens must have at least one dimension [..., L], got a scalar")
        if mask is None:
            mask = torch.ones_like(tokens, dtype=torch.bool)
        elif not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.shape != tokens.shape:
            raise ShapeError(
                f"mask must be a bool tensor of the tokens' shape {tuple(tokens.shape)}, "
                f"got {_desc(mask)}"
            )
        return self.pool(*self.grams(tokens.long(), mask))

    def embed_many(self, rows: Sequence[tuple[Tensor, Tensor]]) -> list[Tensor]:
        """:meth:`forward` of several ``(tokens [N_i, L_i], mask)`` pairs in one pooling call
        (one hashing pass and one table gradient for all), split back: ``[N_i, dim]`` each."""
        if len(rows) == 1:
            return [self(*rows[0])]
        width = max(int(t.shape[-1]) for t, _ in rows)
        toks = [F.pad(t.long(), (0, width - t.shape[-1])) for t, _ in rows]
        masks = [F.pad(m, (0, width - m.shape[-1])) for _, m in rows]
        out = self(torch.cat(toks), torch.cat(masks))
        return list(out.split([int(t.shape[0]) for t, _ in rows]))

    def embed_strings(self, texts: Sequence[str]) -> Tensor:
        """Embed raw strings: words (+ bigrams) + character trigrams. Returns ``[len(texts), dim]``.

        Not a hot path (a Python loop over strings); store :func:`tokenize` output as a
        graph feature for training.
        """
        if isinstance(texts, str):
            raise ShapeError("embed_strings expects a sequence of strings, got a single str")
        words = [split_words(t) for t in texts]
        dev = self.weight.device
        tok, mask = _pad([[string_id(w) for w in ws] for ws in words], dev)
        grams, valid = self.grams(tok, mask)
        if self.char_trigrams:
            tri = [[string_id(c, b"c") for w in ws for c in char_trigrams(w)] for ws in words]
            tg, tm = _pad(tri, dev)
            grams, valid = torch.cat([grams, tg], -1), torch.cat([valid, tm], -1)
        return self.pool(grams, valid)

    def extra_repr(self) -> str:
        return (
            f"num_buckets={self.num_buckets}, dim={self.dim}, num_hashes={self.num_hashes}, "
            f"bigrams={self.bigrams}, char_trigrams={self.char_trigrams}"
        )


def _pad(rows: list[list[int]], device: torch.device) -> tuple[Tensor, Tensor]:
    width = max((len(r) for r in rows), default=0)
    out = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.bool)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = True
    return out.to(device), mask.to(device)


def _desc(x: object) -> str:
    return (
        f"{x.dtype} tensor of shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
    )
