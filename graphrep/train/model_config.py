"""The ``model`` section of :class:`~graphrep.train.config.RunConfig` (re-exported there)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from graphrep.errors import ConfigError
from graphrep.utils.checks import at_least as _positive
from graphrep.utils.checks import choice as _choice
from graphrep.utils.checks import finite as _finite

__all__ = ["ModelConfig"]


@dataclass
class ModelConfig:
    """The OmniSage model (see :class:`graphrep.models.OmniSage`).

    Args:
        encoder: each type's encoder: ``"entity"`` (the OmniSage transformer aggregator),
            ``"pinsage"`` (the importance-pooling GCN baseline), ``"light"``
            (:class:`graphrep.models.LightEncoder`: id row + importance-pooled neighbour
            rows, no transformer) or ``"auto"`` (``light`` for content-free types,
            ``entity`` for the others).
        dim: the shared embedding dimension ``D`` of every type and of users.
        num_heads: attention heads of each entity encoder's transformer (divides ``dim``).
        mlp_hidden: hidden size of the entity encoders' output MLP (PinSage: its hidden size).
        id_buckets: hashed rows of a ``hashed`` id table, and of the tail of a ``hybrid`` one.
        text_buckets: rows of the hashed-text table shared by every type's token features.
        feature_head_hidden: hidden size of the entity-feature task's MLP heads.
        max_tokens: token features (text) are padded or truncated to this many tokens.
        node_types: the types that get an encoder and are exported (default: every type
            of the graph).
        use_neighbors: encoders read the sampled importance neighbourhoods (``false``: the
            ``no_neighbors`` ablation).
        use_content: encoders read content features (``false``: hashed ids and degrees
            only, the ``no_content`` ablation).
        sequence: build the PinnerFormer-style user sequence encoder (needed by a
            ``user_entity`` task; ``false`` for graphs without an event log).
        seq_max_len: a user's most recent actions the sequence encoder reads.
        seq_layers: transformer layers of the sequence encoder.
        seq_heads: attention heads of the sequence encoder (divides ``dim``).
        id_embedding: each type's id table (:class:`graphrep.models.IdEmbedding`, shared by
            every encoder reading the type): ``"exact"`` (one row per node), ``"hashed"``
            (``id_buckets`` rows), ``"hybrid"`` (exact rows for the most frequent ids,
            hashed rows for the rest) or ``"auto"`` (exact when the table fits
            ``id_budget_mb``, else hybrid).
        id_budget_mb: the size in MiB up to which ``auto`` keeps an exact id table.
        spectral_init: start exact id rows from a spectral embedding
            (:func:`graphrep.models.spectral.spectral_embedding`) of the graph.
        spectral_relation: the relation of that embedding (default: each type's largest).
        spectral_alpha: the spectral vectors are scaled by singular value to this power
            (the filter :math:`f(\\sigma) = \\sigma^{\\alpha} e^{\\beta\\sigma}` of
            :func:`~graphrep.models.spectral.spectral_embedding`).
        spectral_beta: the filter's exponential coefficient :math:`\\beta` (0: none).
        spectral_reg: degree regulariser :math:`\\rho` of the normalised adjacency,
            :math:`(D + \\rho)^{-1/2} A (D + \\rho)^{-1/2}`.
        light_normalize: L2-normalise the outputs of light encoders: ``true`` (every
            type), ``false`` (none) or a list of the node types to normalise (e.g.
            ``[user]``: cosine-normalised users against unnormalised items, whose norms
            then carry popularity into dot-product ranking).
        propagated: give every featured type with a sampler one more input token per
            dense feature: its PPR average over the type's meta-path walk
            (:mod:`graphrep.models.propagated`), computed once, parameter-free.
        propagation: how: ``"exact"`` (sparse power iteration), ``"sampled"`` (the
            importance sampler's weights) or ``"auto"`` (exact up to 2M nodes).
        propagation_teleport: the PPR teleport probability :math:`\\alpha` of it, in (0, 1].
        norm_types: node types whose entity encoder learns its output norm (in
            :math:`[e^{-r}, e^{r}]`, :math:`r` = ``norm_range``) instead of unit norms, so
            that dot-product retrieval of them can rank by it, e.g. by popularity.
        norm_range: :math:`r > 0`, the log of the largest learned norm.
        dropout: dropout of the entity encoders' transformer layers.
        skip: a linear skip path from each node's propagated features to its embedding
            (:class:`graphrep.models.skip.PropagatedSkip`, PinSage encoders only; needs
            ``propagated``); the untrained embedding is then the projected propagated
            features, and training adds the encoder's output to it.
    """

    encoder: str = "entity"
    dim: int = 64
    num_heads: int = 2
    mlp_hidden: int = 128
    id_buckets: int = 2**16
    text_buckets: int = 2**16
    feature_head_hidden: int = 128
    max_tokens: int = 16
    node_types: list[str] | None = None
    use_neighbors: bool = True
    use_content: bool = True
    sequence: bool = True
    seq_max_len: int = 32
    seq_layers: int = 1
    seq_heads: int = 2
    id_embedding: str = "auto"
    id_budget_mb: int = 512
    spectral_init: bool = True
    spectral_relation: str | None = None
    spectral_alpha: float = 0.5
    spectral_beta: float = 0.0
    spectral_reg: float = 0.0
    light_normalize: bool | list[str] = True
    propagated: bool = False
    propagation: str = "auto"
    propagation_teleport: float = 0.1
    norm_types: list[str] = field(default_factory=list)
    norm_range: float = 0.3
    dropout: float = 0.0
    skip: bool = False

    def __post_init__(self) -> None:
        _choice(self.propagation, "model.propagation", ("auto", "exact", "sampled"))
        if not (math.isfinite(self.propagation_teleport) and 0.0 < self.propagation_teleport <= 1.0):
            raise ConfigError(
                f"model.propagation_teleport must be in (0, 1], got {self.propagation_teleport!r}"
            )
        if not (math.isfinite(self.norm_range) and self.norm_range > 0):
            raise ConfigError(f"model.norm_range must be > 0, got {self.norm_range!r}")
        if not (math.isfinite(self.dropout) and 0.0 <= self.dropout < 1.0):
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout!r}")
        _choice(self.encoder, "model.encoder", ("entity", "pinsage", "light", "auto"))
        if self.skip and (self.encoder != "pinsage" or not self.propagated):
            raise ConfigError(
                "model.skip needs model.encoder='pinsage' and model.propagated=true, got "
                f"encoder={self.encoder!r}, propagated={self.propagated!r} (set model.skip=false "
                "to run without the skip path)"
            )
        _choice(self.id_embedding, "model.id_embedding", ("auto", "exact", "hashed", "hybrid"))
        _positive(self.id_budget_mb, "model.id_budget_mb")
        _finite(self.spectral_alpha, "model.spectral_alpha")
        _finite(self.spectral_beta, "model.spectral_beta")
        _finite(self.spectral_reg, "model.spectral_reg")
        _positive(self.spectral_reg, "model.spectral_reg", 0)
        if not isinstance(self.light_normalize, bool) and not (
            isinstance(self.light_normalize, list)
            and all(isinstance(t, str) for t in self.light_normalize)
        ):
            raise ConfigError(
                "model.light_normalize must be true, false or a list of node types, "
                f"got {self.light_normalize!r}"
            )
        for name in ("dim", "num_heads", "mlp_hidden", "id_buckets", "text_buckets",
                     "feature_head_hidden", "max_tokens", "seq_max_len", "seq_layers",
                     "seq_heads"):  # fmt: skip
            _positive(getattr(self, name), f"model.{name}")
        if self.dim % self.num_heads or self.dim % self.seq_heads:
            raise ConfigError(
                f"model.dim ({self.dim}) must be divisible by model.num_heads ({self.num_heads}) "
                f"and model.seq_heads ({self.seq_heads})"
            )
