r"""OmniSage: per-type entity encoders, a user sequence encoder and task heads in one space.

From `"OmniSage: Large Scale, Multi-Entity Heterogeneous Graph Representation
Learning" <https://arxiv.org/abs/2504.17811>`_ (KDD'25) with the user sequence
model of PinnerFormer (https://arxiv.org/abs/2205.04507). Every node type
:math:`\tau` has an encoder :math:`f_\tau` (:class:`~graphrep.models.entity.EntityEncoder`,
or :class:`~graphrep.models.pinsage.PinSage` as a baseline) into one
:math:`D`-dimensional, L2-normalised space; users are also embedded from their
recent actions by a :class:`~graphrep.models.sequence.SequenceEncoder` whose
tokens are the entity embeddings of the engaged items (gradients flow into the
entity encoders). Training minimises the weighted multi-task loss

.. math::
    \mathcal{L} = \lambda_{\text{pair}}\mathcal{L}_{\text{entity-entity}}
    + \lambda_{\text{feat}}\mathcal{L}_{\text{entity-feature}}
    + \lambda_{\text{seq}}(\mathcal{L}_{\text{next}} + \mathcal{L}_{\text{future}})
    + \lambda_{\text{query}}\mathcal{L}_{\text{query-entity}}

assembled by :mod:`graphrep.tasks`. Each task owns a
:class:`~graphrep.models.sampled_softmax.SampledSoftmax` with its own learned
temperature, registered here (:meth:`OmniSage.add_loss`, called by a task's
``attach``) so that one optimizer sees every parameter.

**Entity–feature head.** For featured types a small MLP :math:`g_\tau` maps the
node's *raw-feature encoding* -- the mean of its per-modality tokens
:math:`\overline{\mathbf{t}}(v)` computed by the type's own encoder
(:class:`~graphrep.models.content.ModalityTokens`: image projection, hashed text) --
into the space: :math:`\mathbf{y}_v = g_\tau(\mathrm{sg}[\overline{\mathbf{t}}(v)]) /
\lVert\cdot\rVert`. The stop-gradient ``sg`` (``detach_feature_targets=True``,
the default) makes the target a read-out of the content, not something the task
could reshape to make itself easy (as the target branch of BYOL/SimSiam); the
token projections still learn through the embedding path. The embedding
:math:`\mathbf{z}_v` must retrieve :math:`\mathbf{y}_v` among the batch's other
nodes, which keeps content information in graph-heavy embeddings.

**Ablations.** ``use_neighbors=False`` builds encoders without neighbor types
and ignores any neighbors in the inputs; ``use_content=False`` treats every type
as featureless (hashed id + log-degree tokens only); ``sequence=False`` drops the
sequence encoder (the user–entity task then cannot run).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrep.errors import ConfigError, SchemaError, ShapeError
from graphrep.models.encoders import IdTableSpec, build_encoders, build_id_tables
from graphrep.models.entity import EntityEncoder
from graphrep.models.features import FeatureBatch, FeatureSchema, NodeSchema
from graphrep.models.hash_text import HashTextEmbedder
from graphrep.models.link_bce import LinkBCE
from graphrep.models.nodes import NodeBatch
from graphrep.models.pinsage import PinSage
from graphrep.models.readout import TokenSet, cls_outputs, readout_key
from graphrep.models.sampled_softmax import SampledSoftmax
from graphrep.models.sequence import SequenceEncoder
from graphrep.models.tokens import FeatureInputs


def _featureless(schema: FeatureSchema) -> FeatureSchema:
    """The schema with every feature removed (ids and degrees only)."""
    return FeatureSchema(
        {nt: NodeSchema(nt, s.num_nodes) for nt, s in schema.types.items()}
    )


class OmniSage(nn.Module):
    r"""Per-type entity encoders + sequence encoder + entity–feature heads + task losses.

    Args:
        schema (FeatureSchema): features of every node type.
        neighbor_types (Mapping[str, Sequence[str]]): node type -> neighbor types its
            encoder reads; the keys choose which types get an encoder (e.g.
            :meth:`graphrep.tasks.InputBuilder.neighbor_types`).
        dim (int, optional): the shared dimension ``D``. (default: :obj:`128`)
        encoder (str, optional): ``"entity"`` or ``"pinsage"``. (default: :obj:`"entity"`)
        sequence (bool, optional): build the user sequence encoder. (default: :obj:`True`)
        num_actions (int, optional): action vocabulary of the event log. (default: :obj:`8`)
        num_surfaces (int, optional): surface vocabulary. (default: :obj:`4`)
        sequence_kwargs (Mapping, optional): further :class:`SequenceEncoder`
            arguments (``max_len``, ``num_layers``, ``num_heads``, ...).
        feature_head_hidden (int, optional): hidden size of the entity–feature MLPs.
            (default: :obj:`256`)
        detach_feature_targets (bool, optional): stop gradients into the raw-feature
            encoding used as entity–feature target. (default: :obj:`True`)
        use_neighbors (bool, optional): encoders read sampled neighbors. (default: :obj:`True`)
        use_content (bool, optional): encoders read content features. (default: :obj:`True`)
        text_buckets (int, optional): rows of the shared hashed-text table.
            (default: :obj:`2**17`)
        id_tables (Mapping, optional): :class:`~graphrep.models.encoders.IdTableSpec` fields
            (``mode``, ``budget_bytes``, ``num_buckets``, ``sparse``) of the one id table per
            node type that every encoder reading the type shares. (default: exact under 512 MiB)
        light_kwargs (Mapping, optional): arguments of the light encoders (``normalize``,
            ``neighbor_weight``). (default: :obj:`None`)
        **encoder_kwargs: passed to every entity encoder (``num_heads``, ``id_buckets``,
            ``mlp_hidden``, ``hidden`` for PinSage, ...).
    """

    def __init__(
        self,
        schema: FeatureSchema,
        neighbor_types: Mapping[str, Sequence[str]],
        dim: int = 128,
        encoder: str = "entity",
        sequence: bool = True,
        num_actions: int = 8,
        num_surfaces: int = 4,
        sequence_kwargs: Mapping[str, Any] | None = None,
        feature_head_hidden: int = 256,
        detach_feature_targets: bool = True,
        use_neighbors: bool = True,
        use_content: bool = True,
        text_buckets: int = 2**17,
        id_tables: Mapping[str, Any] | None = None,
        light_kwargs: Mapping[str, Any] | None = None,
        **encoder_kwargs: Any,
    ) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ConfigError(f"OmniSage: dim must be an int >= 1, got {dim!r}")
        if not isinstance(neighbor_types, Mapping) or not neighbor_types:
            raise ConfigError(
                "OmniSage: neighbor_types must be a non-empty {node_type: [neighbor types]} mapping"
            )
        self.hparams: dict[str, Any] = {
            "schema": schema.to_dict(),
            "neighbor_types": {k: list(v) for k, v in neighbor_types.items()},
            "dim": dim, "encoder": encoder, "sequence": bool(sequence),
            "num_actions": num_actions, "num_surfaces": num_surfaces,
            "sequence_kwargs": dict(sequence_kwargs or {}),
            "feature_head_hidden": feature_head_hidden,
            "detach_feature_targets": bool(detach_feature_targets),
            "use_neighbors": bool(use_neighbors), "use_content": bool(use_content),
            "text_buckets": text_buckets, "id_tables": dict(id_tables or {}),
            "light_kwargs": dict(light_kwargs or {}), "encoder_kwargs": dict(encoder_kwargs),
            "losses": {}, "heads": {},
        }  # fmt: skip
        self.dim = dim
        self.use_neighbors = bool(use_neighbors)
        self.use_content = bool(use_content)
        self.detach_feature_targets = bool(detach_feature_targets)
        self.schema = schema
        self.encoder_schema = schema if self.use_content else _featureless(schema)
        nbr = {
            nt: (list(types) if self.use_neighbors else []) for nt, types in neighbor_types.items()
        }
        used = {t for nt, types in nbr.items() for t in (nt, *types)}
        text = None
        if any(self.encoder_schema[t].text for t in used):
            text = HashTextEmbedder(num_buckets=text_buckets, dim=dim)
        self.text_embedder = text
        spec = IdTableSpec(**dict(id_tables or {}))
        width = int(encoder_kwargs.get("hidden", 256)) if encoder == "pinsage" else dim
        self.id_tables = build_id_tables(
            self.encoder_schema, nbr, encoder, width, spec, encoder_kwargs.get("use_id_embedding"),
        )  # fmt: skip
        self.encoders = build_encoders(
            self.encoder_schema, nbr, encoder=encoder, dim=dim, text_embedder=text,
            id_tables=self.id_tables, light_kwargs=light_kwargs, **encoder_kwargs,
        )  # fmt: skip
        self.feature_heads = nn.ModuleDict()
        for nt, enc in self.encoders.items():
            if self.encoder_schema[nt].featureless or not hasattr(enc, "raw"):
                continue
            width = enc.hidden if isinstance(enc, PinSage) else dim
            self.feature_heads[nt] = nn.Sequential(
                nn.Linear(width, feature_head_hidden), nn.GELU(),
                nn.Linear(feature_head_hidden, dim),
            )  # fmt: skip
        self.sequence: SequenceEncoder | None = None
        if sequence:
            self.sequence = SequenceEncoder(
                dim=dim, num_actions=num_actions, num_surfaces=num_surfaces,
                **dict(sequence_kwargs or {}),
            )  # fmt: skip
        self.losses = nn.ModuleDict()
        self.heads = nn.ModuleDict()

    @classmethod
    def from_builder(
        cls,
        builder: Any,
        events: Any | None = None,
        node_types: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> OmniSage:
        """Build from a :class:`graphrep.tasks.InputBuilder` (schema and neighbor types) and
        optionally an :class:`~graphrep.graph.eventlog.EventLog` (action/surface vocabularies)."""
        if events is not None:
            kwargs.setdefault("num_actions", len(events.action_names))
            kwargs.setdefault("num_surfaces", len(events.surface_names))
        return cls(builder.schema, builder.neighbor_types(node_types), **kwargs)

    @classmethod
    def from_hparams(cls, hparams: Mapping[str, Any]) -> OmniSage:
        """Rebuild an (untrained) model from ``model.hparams``, loss modules included, so that a
        checkpoint's ``state_dict`` loads into it."""
        h = dict(hparams)
        losses, heads = h.pop("losses", {}), h.pop("heads", {})
        schema = FeatureSchema.from_dict(h.pop("schema"))
        kwargs = h.pop("encoder_kwargs", {})
        model = cls(schema, **h, **kwargs)
        for name, spec in losses.items():
            model.add_loss(name, **spec)
        for name, spec in heads.items():
            model.add_head(name, **spec)
        return model

    # ------------------------------------------------------------------ losses
    def add_loss(self, name: str, **kwargs: Any) -> nn.Module:
        """The loss module ``name``, created if absent: ``LinkBCE(**kwargs)`` when
        ``kwargs["kind"] == "link_bce"`` (BCE with a dot or jointly trained MLP scorer),
        else ``SampledSoftmax(**kwargs)``.

        Call it (through a task's ``attach``) before building the optimizer.
        """
        if not isinstance(name, str) or not name or "." in name:
            raise ConfigError(f"OmniSage.add_loss: name must be a non-empty str without '.', got {name!r}")
        if name not in self.losses:
            args = dict(kwargs)
            kind = args.pop("kind", "sampled_softmax")
            if kind not in ("sampled_softmax", "link_bce"):
                raise ConfigError(f"OmniSage.add_loss({name!r}): unknown loss kind {kind!r}")
            self.losses[name] = LinkBCE(**args) if kind == "link_bce" else SampledSoftmax(**args)
            self.hparams["losses"][name] = dict(kwargs)
        return self.losses[name]

    def link_scorer(self) -> LinkBCE | None:
        """The first loss module with a trained (MLP) link scorer, if any."""
        return next((m for m in self.losses.values() if isinstance(m, LinkBCE) and m.mlp is not None), None)

    def add_head(self, name: str, in_dim: int, out_dim: int, hidden: int) -> nn.Module:
        """The task head ``name`` (an MLP ``in_dim -> hidden -> out_dim``, e.g. the decoder of
        masked feature reconstruction), created if absent; kept in ``hparams`` so that
        :meth:`from_hparams` rebuilds it. Call it (through ``attach``) before the optimizer."""
        if not isinstance(name, str) or not name or "." in name:
            raise ConfigError(f"OmniSage.add_head: name must be a non-empty str without '.', got {name!r}")
        if name not in self.heads:
            self.heads[name] = nn.Sequential(
                nn.Linear(in_dim, hidden), nn.PReLU(), nn.Linear(hidden, out_dim)
            )
            self.hparams["heads"][name] = {"in_dim": in_dim, "out_dim": out_dim, "hidden": hidden}
        return self.heads[name]

    def get_head(self, name: str) -> nn.Module:
        """The registered task head ``name``."""
        if name not in self.heads:
            raise ConfigError(
                f"OmniSage has no head {name!r} (registered: {list(self.heads)}); call "
                "task.attach(model) before creating the optimizer"
            )
        return self.heads[name]

    def get_loss(self, name: str) -> Any:
        """The registered loss module ``name``."""
        if name not in self.losses:
            raise ConfigError(
                f"OmniSage has no loss module {name!r} (registered: {list(self.losses)}); call "
                "task.attach(model) or MultiTask.attach(model) before creating the optimizer"
            )
        return self.losses[name]

    # ------------------------------------------------------------------ entities
    def encoder(self, node_type: str) -> nn.Module:
        """The encoder of ``node_type``."""
        if node_type not in self.encoders:
            raise SchemaError(
                f"OmniSage has no encoder for node type {node_type!r}; encoded types: "
                f"{list(self.encoders)}"
            )
        return self.encoders[node_type]

    def embed(self, node_type: str, inputs: Any, expand: bool = True) -> Tensor:
        """Embeddings ``[N, D]`` of :class:`~graphrep.tasks.EntityInputs` of ``node_type``.

        Args:
            node_type: the type (must match ``inputs.node_type``).
            inputs: features and neighborhoods of the distinct nodes plus an inverse index.
            expand: map the ``U`` distinct rows back to the ``N`` requested positions.
        """
        enc = self.encoder(node_type)
        if inputs.node_type != node_type:
            raise SchemaError(
                f"OmniSage.embed: inputs are of node type {inputs.node_type!r}, not {node_type!r}"
            )
        z = enc(inputs.batch, inputs.neighbors if self.use_neighbors else None)
        if expand and inputs.inverse is not None:
            z = z[inputs.inverse]
        return z

    def encode(self, nodes: NodeBatch) -> dict[str, Tensor]:
        """Embeddings ``[B_t, D]`` of the seeds of every type of a
        :class:`~graphrep.models.nodes.NodeBatch`, in one pass: each distinct node's text is
        embedded once, and the transformers of every entity encoder with the same shapes are
        read out together (:func:`~graphrep.models.readout.cls_outputs`)."""
        nodes.check("OmniSage.encode")
        for t, fb in nodes.features.items():
            fb.check(self.encoder_schema[t], None, f"OmniSage.encode features of {t!r}")
        inputs = FeatureInputs(nodes.features)
        readers = {raw.schema.node_type: raw.modalities for t in nodes.seeds
                   if isinstance(self.encoder(t), EntityEncoder)
                   for raw in self.encoder(t).raw if raw.modalities is not None}  # fmt: skip
        inputs.prepare(readers)
        groups: dict[Any, list[tuple[EntityEncoder, TokenSet]]] = {}
        out: dict[str, Tensor] = {}
        for t in nodes.seeds:
            enc = self.encoder(t)
            if isinstance(enc, EntityEncoder):
                ts = enc.tokens(nodes, inputs, self.use_neighbors)
                groups.setdefault(readout_key(enc.transformer), []).append((enc, ts))
            else:
                batch, nbrs = nodes.padded(t)
                out[t] = enc(batch, nbrs if self.use_neighbors else None)
        for members in groups.values():
            encs = [e for e, _ in members]
            hs = cls_outputs([ts for _, ts in members], [e.transformer for e in encs],
                             [e.cls for e in encs])  # fmt: skip
            for enc, h in zip(encs, hs, strict=True):
                out[enc.node_type] = enc.output(h)
        return {t: out[t] for t in nodes.seeds}

    def item_table(self, items: Any) -> Tensor:
        """Embeddings ``[R, D]`` of the rows of an :class:`~graphrep.tasks.ItemInputs` table."""
        parts = [self.embed(t, x) for t, x in items.inputs.items()]
        if not parts:
            return torch.zeros(0, self.dim, device=self._device())
        return torch.cat(parts, 0)

    def feature_targets(self, node_type: str, batch: FeatureBatch) -> Tensor:
        r"""Entity–feature targets :math:`\mathbf{y}_v` ``[B, D]`` (see the module docstring)."""
        enc = self.encoder(node_type)
        if node_type not in self.feature_heads:
            raise ConfigError(
                f"OmniSage: node type {node_type!r} has no entity-feature head (featureless "
                f"type, or use_content=False); heads exist for {list(self.feature_heads)}"
            )
        batch.check(self.encoder_schema[node_type], None, f"feature targets of {node_type!r}")
        raw = next(m for m in enc.raw if m.schema.node_type == node_type)
        tokens = raw.modalities(batch)  # [B, M, width]
        x = tokens.mean(-2)
        if self.detach_feature_targets:
            x = x.detach()
        return F.normalize(self.feature_heads[node_type](x), dim=-1)

    # ------------------------------------------------------------------ users
    def _seq(self) -> SequenceEncoder:
        if self.sequence is None:
            raise ConfigError("OmniSage was built with sequence=False; user sequences are disabled")
        return self.sequence

    def sequence_outputs(
        self, history: Any, item_emb: Tensor, query_time: Tensor | int | None = None
    ) -> Tensor:
        """Per-position user embeddings ``[B, M, D]`` of a history (``SequenceHistory``).

        Args:
            history: ``action``, ``surface``, ``timestamp``, ``mask`` ``[B, M]`` tensors.
            item_emb: ``[B, M, D]`` embeddings of the history items.
            query_time: time at which users are embedded (int or ``[B]``); see
                :class:`SequenceEncoder` for why training uses the cut time.
        """
        return self._seq()(*self._sequence_args(history, item_emb, query_time))

    def _sequence_args(self, history: Any, item_emb: Tensor, query_time: Tensor | int | None) -> tuple:
        b = history.mask.shape[0]
        if query_time is not None and not isinstance(query_time, Tensor):
            query_time = torch.full((b,), int(query_time), dtype=torch.long)
        if query_time is not None:
            query_time = query_time.to(history.mask.device)
        return item_emb, history.action, history.surface, history.timestamp, history.mask, query_time

    def embed_users(
        self, history: Any, items: Any, query_time: Tensor | int | None = None
    ) -> Tensor:
        """User embeddings ``[B, D]``: the sequence output at each user's last action.

        Args:
            history: a ``SequenceHistory`` (or ``SequenceBatch``) ``[B, M]``.
            items: :class:`~graphrep.tasks.ItemInputs` whose ``index["history"]`` ``[B, M]``
                holds the table row of every history item.
            query_time: embedding time (default: each user's latest action).
        """
        if "history" not in items.index:
            raise ShapeError("OmniSage.embed_users: items.index needs a 'history' [B, M] entry")
        table = self.item_table(items)
        return self.users_from_history(history, table[items.index["history"]], query_time)

    def users_from_history(
        self, history: Any, item_emb: Tensor, query_time: Tensor | int | None = None
    ) -> Tensor:
        """User embeddings ``[B, D]`` from the embeddings ``[B, M, D]`` of their history items
        (e.g. looked up in an export instead of encoded again; see :meth:`embed_users`): the
        sequence output at each user's last action
        (:meth:`~graphrep.models.sequence.SequenceEncoder.encode_users`)."""
        return self._seq().encode_users(*self._sequence_args(history, item_emb, query_time))

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, types={list(self.encoders)}, use_neighbors={self.use_neighbors}, "
            f"use_content={self.use_content}, sequence={self.sequence is not None}"
        )
