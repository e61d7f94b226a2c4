r"""Content encoding (ItemSage): one token per feature modality, a transformer, the CLS output.

From `"ItemSage: Learning Product Embeddings for Shopping Recommendations at
Pinterest" <https://arxiv.org/abs/2205.11728>`_ (Baltescu et al., KDD'22): each
modality :math:`m` of an entity (an image vector, a title...) becomes one token

.. math::
    \mathbf{t}_m = \mathbf{W}_m \mathbf{x}_m + \mathbf{b}_m + \mathbf{p}_m
    \quad\text{(dense)},\qquad
    \mathbf{t}_m = \mathbf{W}_m\, \mathrm{HashText}(\mathbf{x}_m) + \mathbf{b}_m + \mathbf{p}_m
    \quad\text{(text)},

with :math:`\mathbf{p}_m` a learned modality embedding; the sequence
:math:`[\mathrm{CLS}, \mathbf{t}_1, \dots, \mathbf{t}_M]` goes through a pre-norm
transformer encoder and the CLS output is the content embedding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from graphrep.errors import ConfigError
from graphrep.models.features import FeatureBatch, NodeSchema
from graphrep.models.hash_text import HashTextEmbedder


def make_transformer(
    dim: int, num_layers: int, num_heads: int, dropout: float
) -> nn.TransformerEncoder:
    """Pre-norm, batch-first transformer encoder with a final LayerNorm (GELU, 4x feed-forward)."""
    if num_layers < 1:
        raise ConfigError(f"num_layers must be >= 1, got {num_layers}")
    if num_heads < 1 or dim % num_heads:
        raise ConfigError(f"dim={dim} must be divisible by num_heads={num_heads}")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
    layer = nn.TransformerEncoderLayer(
        dim, num_heads, 4 * dim, dropout, activation="gelu", batch_first=True, norm_first=True
    )
    return nn.TransformerEncoder(
        layer, num_layers, norm=nn.LayerNorm(dim), enable_nested_tensor=False
    )


def reset_transformer(tr: nn.TransformerEncoder) -> None:
    """Re-initialise every Linear, LayerNorm and attention block of ``tr``."""
    for m in tr.modules():
        if isinstance(m, nn.Linear | nn.LayerNorm):
            m.reset_parameters()
    for m in tr.modules():
        if isinstance(m, nn.MultiheadAttention):
            m._reset_parameters()  # xavier in-projection, zero biases


class ModalityTokens(nn.Module):
    r"""One ``dim``-sized token per feature modality of a node type.

    Dense feature :math:`m`: :math:`\mathbf{W}_m \mathbf{x}_m + \mathbf{b}_m + \mathbf{p}_m`;
    token feature :math:`m`: :math:`\mathbf{W}_m\,\mathrm{HashText}(\mathbf{x}_m) +
    \mathbf{b}_m + \mathbf{p}_m` (the hash embedder may be shared across node types,
    the projection is per type and feature).

    Args:
        schema (NodeSchema): the node type's features (must not be featureless).
        dim (int): token size. (default: :obj:`128`)
        text_embedder (HashTextEmbedder, optional): shared text embedder; a new
            one of size ``dim`` is created when needed and None. (default: :obj:`None`)
    """

    def __init__(
        self, schema: NodeSchema, dim: int = 128, text_embedder: HashTextEmbedder | None = None
    ) -> None:
        super().__init__()
        if schema.featureless:
            raise ConfigError(
                f"node type {schema.node_type!r} has no features; use hashed id embeddings instead"
            )
        self.schema, self.dim = schema, dim
        self.dense_proj = nn.ModuleList(nn.Linear(d, dim) for d in schema.dense.values())
        self.owns_text_embedder = bool(schema.text) and text_embedder is None
        if self.owns_text_embedder:
            text_embedder = HashTextEmbedder(dim=dim)
        self.text_embedder = text_embedder if schema.text else None
        tdim = text_embedder.dim if self.text_embedder is not None else dim
        self.text_proj = nn.ModuleList(nn.Linear(tdim, dim) for _ in schema.text)
        self.modality_emb = nn.Parameter(torch.empty(schema.num_modalities, dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise; a shared text embedder (passed in) is left to its owner."""
        for lin in (*self.dense_proj, *self.text_proj):
            lin.reset_parameters()
        nn.init.normal_(self.modality_emb, std=0.02)
        if self.owns_text_embedder:
            self.text_embedder.reset_parameters()

    @property
    def num_modalities(self) -> int:
        return self.schema.num_modalities

    def inputs(self, fb: FeatureBatch, text: list[Tensor] | None = None) -> list[Tensor]:
        """What the projections read, per modality ``[*S, d_m]``: the dense features, and the
        text embedder's output for token features (the expensive, shareable part), unless
        already computed and passed as ``text`` (one per token feature, in schema order)."""
        dtype = self.modality_emb.dtype
        xs = [fb.dense[name].to(dtype) for name in self.schema.dense]
        if text is None:
            text = [self.text_embedder(fb.tokens[n], fb.token_mask[n]) for n in self.schema.text]
        return xs + list(text)

    def project(self, inputs: list[Tensor]) -> Tensor:
        """Tokens ``[*S, M, dim]`` from :meth:`inputs` output (of any rows)."""
        lins = [*self.dense_proj, *self.text_proj]
        return torch.stack([lin(x) for lin, x in zip(lins, inputs, strict=True)], -2) + self.modality_emb

    def forward(self, fb: FeatureBatch) -> Tensor:
        """Tokens ``[*S, M, dim]`` of a batch with leading shape ``S`` (checked by the caller)."""
        return self.project(self.inputs(fb))


class ContentEncoder(nn.Module):
    r"""ItemSage content encoder: :math:`[\mathrm{CLS}, \mathbf{t}_1..\mathbf{t}_M]`
    :math:`\to` transformer :math:`\to` CLS output.

    From `"ItemSage: Learning Product Embeddings for Shopping Recommendations at
    Pinterest" <https://arxiv.org/abs/2205.11728>`_:

    .. math::
        \mathbf{z} = \mathrm{LN}\big(\mathrm{Transformer}([\mathbf{c}, \mathbf{t}_1, \dots,
        \mathbf{t}_M])\big)_0

    Args:
        dense_dims (Mapping[str, int]): dense feature name -> input dimension.
        text_features (Sequence[str]): token-id feature names.
        dim (int, optional): token and output size. (default: :obj:`128`)
        num_layers (int, optional): transformer layers. (default: :obj:`1`)
        num_heads (int, optional): attention heads. (default: :obj:`4`)
        dropout (float, optional): transformer dropout. (default: :obj:`0.0`)
        text_embedder (HashTextEmbedder, optional): shared text embedder.
            (default: :obj:`None`)
        node_type (str, optional): if given, batches of other types are refused.
            (default: :obj:`None`)
    """

    def __init__(
        self,
        dense_dims: Mapping[str, int],
        text_features: Sequence[str] = (),
        dim: int = 128,
        num_layers: int = 1,
        num_heads: int = 4,
        dropout: float = 0.0,
        text_embedder: HashTextEmbedder | None = None,
        node_type: str | None = None,
    ) -> None:
        super().__init__()
        if isinstance(text_features, str):
            raise ConfigError(
                f"text_features must be a sequence of names, got the str {text_features!r}"
            )
        schema = NodeSchema(
            node_type or "", 0, {k: int(v) for k, v in dense_dims.items()}, tuple(text_features)
        )
        if schema.featureless:
            raise ConfigError("ContentEncoder needs at least one dense or text feature")
        self.node_type, self.dim = node_type, dim
        self.tokens = ModalityTokens(schema, dim, text_embedder)
        self.cls = nn.Parameter(torch.empty(dim))
        self.transformer = make_transformer(dim, num_layers, num_heads, dropout)
        self.reset_parameters()

    @classmethod
    def from_schema(cls, schema: NodeSchema, **kwargs: object) -> ContentEncoder:
        """Build for one node type of a :class:`~graphrep.models.features.FeatureSchema`."""
        return cls(schema.dense, schema.text, node_type=schema.node_type, **kwargs)

    def reset_parameters(self) -> None:
        self.tokens.reset_parameters()
        nn.init.normal_(self.cls, std=0.02)
        reset_transformer(self.transformer)

    def _checked(self, fb: FeatureBatch) -> None:
        schema = self.tokens.schema
        if self.node_type is None:
            schema = dataclasses.replace(schema, node_type=fb.node_type)
        fb.check(schema, what="ContentEncoder input")

    def modality_tokens(self, fb: FeatureBatch) -> Tensor:
        """The per-modality tokens ``[*S, M, dim]`` (no transformer; cheap)."""
        self._checked(fb)
        return self.tokens(fb)

    def forward(self, fb: FeatureBatch) -> Tensor:
        """Content embeddings ``[*S, dim]`` of a batch with any leading shape ``S``."""
        toks = self.modality_tokens(fb)
        lead = toks.shape[:-2]
        toks = toks.reshape(-1, *toks.shape[-2:])
        cls = self.cls.expand(toks.shape[0], 1, self.dim)
        out = self.transformer(torch.cat([cls, toks], dim=1))
        return out[:, 0].reshape(*lead, self.dim)
