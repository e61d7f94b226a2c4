r"""Encode entities that arrived after training into a trained run's space, without retraining.

OmniSage's encoders are inductive (https://arxiv.org/abs/2504.17811): a pin, board or
query is encoded from its own features and its sampled importance neighbourhood, a user
from their action sequence (PinnerFormer, https://arxiv.org/abs/2205.04507). So

* a **new node** is added to the graph with its content features and its edges to known
  nodes (:func:`graphrep.graph.extend.extend_graph`; it gets the id after the last node
  of its type, the ``i``-th new node of a call the ``i``-th such id), its neighbourhood is
  sampled on that graph at :data:`~graphrep.embed.inference.INFERENCE_STEP`, as the
  export does, and the trained encoder embeds it;
* a **known node** goes through the same path on the unchanged graph, so it gets exactly
  its exported vector;
* a **user** is the sequence encoder over their last ``M`` actions (items by external
  id, action and surface names or codes, timestamps), the items' vectors read from the
  run's embeddings (as the export does), embedded at ``query_time`` (default
  :math:`\max(\text{cut}, t_\text{last} + 1)`, the run's cut for a history before it).
  A model without a sequence encoder averages the items' vectors.

**Id tables.** A new node has no trained row in its type's id table
(:class:`~graphrep.models.IdEmbedding`); it gets the zero row
(:meth:`~graphrep.models.IdEmbedding.admit_new_ids`) and is known through its
features, degree and neighbours. A new node of a content-free type (an id-only type,
or any type of a ``use_content=False`` model) without edges would therefore get the
same vector as every other such node: it is refused (:class:`~graphrep.errors.ConfigError`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from graphrep.data.dataset import GraphDataset
from graphrep.embed.inference import (
    INFERENCE_STEP,
    _lookup_history,
    _users_from_history,
    embed_ids,
)
from graphrep.embed.store import Embeddings
from graphrep.errors import ConfigError, SchemaError, ShapeError
from graphrep.graph.extend import EdgeRows, GraphExtension, NodeRows, extend_graph
from graphrep.models import OmniSage
from graphrep.models.id_embedding import IdEmbedding
from graphrep.samplers.sequences import SequenceHistory
from graphrep.tasks import InputBuilder
from graphrep.train.build import build_inputs
from graphrep.train.config import RunConfig


@dataclass
class Action:
    """One action of a user sequence (item by external id; action/surface by name or code)."""

    item: Any
    timestamp: int
    item_type: str | None = None
    action: str | int = 0
    surface: str | int = 0


def _code(value: str | int, names: Sequence[str], what: str) -> int:
    if isinstance(value, str):
        if value not in names:
            raise SchemaError(f"{what} {value!r} is unknown; expected one of {list(names)}")
        return names.index(value)
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= value < len(names):
        raise SchemaError(f"{what} code {value!r}: expected an integer in [0, {len(names)}) "
                          f"(names {list(names)})")
    return int(value)


class Encoder:
    """New, known and updated entities of a trained run, in its embedding space.

    Args:
        model: the trained model.
        config: the run's config (input pipeline, ``seq_max_len``).
        dataset: the graph (with any refreshed changes applied), event log vocabularies
            and ``meta["cut_time"]``.
        embeddings: the run's exported vectors (history items of users are read there).

    Thread safety: calls are serialised by a lock (one forward pass at a time).
    """

    def __init__(self, model: OmniSage, config: RunConfig, dataset: GraphDataset,
                 embeddings: Embeddings | None = None) -> None:
        self.model, self.config, self.dataset, self.embeddings = model.eval(), config, dataset, embeddings
        for m in model.modules():
            if isinstance(m, IdEmbedding):
                m.admit_new_ids()
        self.builder: InputBuilder = build_inputs(config, dataset)
        self._lock = threading.Lock()

    @classmethod
    def from_run(cls, run: str | os.PathLike) -> Encoder:
        """The encoder of run directory ``run`` at its current embeddings version."""
        from graphrep.embed.versions import open_state

        state = open_state(run)
        return cls(state.model, state.config, state.dataset, state.embeddings)

    @property
    def graph(self) -> Any:
        return self.dataset.graph

    @property
    def dim(self) -> int:
        return int(self.model.dim)

    @property
    def node_types(self) -> list[str]:
        """Types with an encoder (users are encoded from sequences, :meth:`encode_users`)."""
        return list(self.model.encoders)

    def _check_type(self, node_type: str) -> None:
        if node_type not in self.model.encoders:
            raise SchemaError(f"unknown or unencoded node type {node_type!r}; encoded types: "
                              f"{self.node_types}")

    # ------------------------------------------------------------------ nodes
    def encode_known(self, node_type: str, ids: Any) -> np.ndarray:
        """``[m, D]`` vectors of known nodes (external ids), through the encoder."""
        self._check_type(node_type)
        rows = self.graph.index_of(node_type, np.atleast_1d(np.asarray(ids)))
        with self._lock:
            return embed_ids(self.model, self.builder, node_type, rows, self.config.embed.batch_size)

    def extension(self, node_type: str, features: Mapping[str, Any] | None = None,
                  edges: Mapping[str, Sequence[Sequence[Any]]] | None = None,
                  count: int | None = None) -> GraphExtension:
        """The graph with ``m`` new ``node_type`` nodes (see :meth:`encode_new`)."""
        self._check_type(node_type)
        features, edges = dict(features or {}), dict(edges or {})
        sizes = {len(v) for v in features.values()} | {len(v) for v in edges.values()}
        if count is not None:
            sizes.add(int(count))
        if len(sizes) != 1:
            raise ShapeError(f"new {node_type!r} nodes: features and edges must list the same "
                             f"number of nodes, got sizes {sorted(sizes) or 'none'}")
        m = sizes.pop()
        ids = self._placeholder_ids(node_type, m)
        rel: dict[str, EdgeRows] = {}
        has_edges = np.zeros(m, dtype=bool)
        for name, lists in edges.items():
            et = self.graph.edge_type(name)
            if node_type not in (et[0], et[2]):
                raise SchemaError(f"edges[{name!r}]: relation {et} has no {node_type!r} end")
            lengths = np.array([len(x) for x in lists], dtype=np.int64)
            has_edges |= lengths > 0
            mine = np.repeat(ids, lengths)
            other = np.asarray([x for row in lists for x in row])
            if not len(other):
                continue
            src, dst = (mine, other) if et[0] == node_type else (other, mine)
            rel[name] = EdgeRows(src, dst)
        if self.model.encoder_schema[node_type].featureless:
            # the encoder reads no content of this type: absent dense features are zeros
            for name, v in self.graph.features[node_type].items():
                if name not in features and isinstance(v, np.ndarray):
                    features[name] = np.zeros((m, v.shape[1]), dtype=v.dtype)
        if self.model.encoder_schema[node_type].featureless and not has_edges.all():
            bad = int(np.flatnonzero(~has_edges)[0])
            raise ConfigError(
                f"new {node_type!r} node {bad} has no edges: the encoder of {node_type!r} reads no "
                "content features, so a new node needs at least one edge to a known node"
            )
        return extend_graph(self.graph, {node_type: NodeRows(ids, features, m)}, rel,
                            edge_data=False)

    def encode_new(self, node_type: str, features: Mapping[str, Any] | None = None,
                   edges: Mapping[str, Sequence[Sequence[Any]]] | None = None,
                   count: int | None = None) -> np.ndarray:
        """``[m, D]`` vectors of ``m`` new nodes of ``node_type``.

        Args:
            node_type: an encoded type (pin, board, query...).
            features: every dense feature ``[m, d]`` and token feature (``m`` lists of token
                ids; missing token features mean no tokens).
            edges: relation name -> ``m`` lists of external ids of known nodes at the other
                end (the new node is the relation's end of its type; the source for a
                relation between two nodes of the type, or name ``rev_<rel>``).
            count: ``m`` when neither features nor edges say it.
        """
        ext = self.extension(node_type, features, edges, count)
        ds = GraphDataset(ext.graph, self.dataset.events, {}, self.dataset.meta)
        builder = build_inputs(self.config, ds)
        with self._lock:
            return embed_ids(self.model, builder, node_type, ext.new_nodes[node_type],
                             self.config.embed.batch_size)

    def _placeholder_ids(self, node_type: str, m: int) -> np.ndarray | None:
        """External ids for ``m`` transient new nodes (positional when the type has none)."""
        g = self.graph
        if node_type not in g.node_ids:
            return np.arange(g.num_nodes[node_type], g.num_nodes[node_type] + m, dtype=np.int64)
        old = g.node_ids[node_type]
        if old.dtype.kind == "U":
            return np.array([f"\x00new:{i}" for i in range(m)])
        return int(old.max(initial=-1)) + 1 + np.arange(m, dtype=np.int64)

    # ------------------------------------------------------------------ users
    def history(self, sequences: Sequence[Sequence[Action]]) -> SequenceHistory:
        """Left-padded ``[B, M]`` history of the last ``M`` actions of each sequence."""
        ev = self.dataset.events
        if ev is None:
            raise ConfigError("this run's dataset has no event log: users cannot be encoded")
        m = int(self.config.model.seq_max_len)
        b = len(sequences)
        cols = {k: np.zeros((b, m), np.int64) for k in ("items", "item_type", "action",
                                                       "surface", "timestamp")}  # fmt: skip
        mask = np.zeros((b, m), dtype=bool)
        at, flat = [], []  # (row, column) and the action of every kept slot
        for i, seq in enumerate(sequences):
            if not len(seq):
                raise ShapeError(f"sequence {i}: a user needs at least one action")
            acts = sorted(seq, key=lambda a: int(a.timestamp))[-m:]
            at += [(i, m - len(acts) + j) for j in range(len(acts))]
            flat += [(i, a) for a in acts]
        r, c = np.array(at).T
        mask[r, c] = True
        codes = np.array([_code(a.item_type or ev.item_types[0], ev.item_types, f"sequence {i}: item type")
                          for i, a in flat])  # fmt: skip
        cols["item_type"][r, c] = codes
        cols["action"][r, c] = [_code(a.action, ev.action_names, f"sequence {i}: action") for i, a in flat]
        cols["surface"][r, c] = [_code(a.surface, ev.surface_names, f"sequence {i}: surface")
                                 for i, a in flat]  # fmt: skip
        cols["timestamp"][r, c] = [int(a.timestamp) for _, a in flat]
        items = np.array([a.item for _, a in flat])
        for code in np.unique(codes):  # one id lookup per item type
            sel = codes == code
            cols["items"][r[sel], c[sel]] = self.graph.index_of(ev.item_types[code], items[sel])
        t = {k: torch.from_numpy(v) for k, v in cols.items()}
        return SequenceHistory(users=torch.arange(b), mask=torch.from_numpy(mask), **t)

    def encode_users(self, sequences: Sequence[Sequence[Action]],
                     query_time: int | Sequence[int] | None = None) -> np.ndarray:
        """``[B, D]`` vectors of users from their action sequences (see the module docstring)."""
        hist = self.history(sequences)
        last = hist.timestamp.masked_fill(~hist.mask, np.iinfo(np.int64).min).amax(1)
        if query_time is None:
            cut = int(self.dataset.meta.get("cut_time", np.iinfo(np.int64).min + 1))
            q = torch.clamp(last + 1, min=cut)
        else:
            q = torch.as_tensor(np.broadcast_to(np.asarray(query_time, np.int64), (len(sequences),)))
            if bool((q < last).any()):
                raise ShapeError("query_time: must not be before a sequence's latest action")
        return self.users_from(hist, q)

    def users_from(self, hist: SequenceHistory, query_time: torch.Tensor) -> np.ndarray:
        """User vectors of a history ``[B, M]`` at per-user ``query_time`` ``[B]``."""
        ev = self.dataset.events
        with torch.no_grad(), self._lock:
            emb = self._item_vectors(hist, ev.item_types)
            if self.model.sequence is not None:
                z = self.model.users_from_history(hist, emb, query_time=query_time)
            else:
                z = _users_from_history(self.model, hist, emb, 0)
        return z.float().cpu().numpy()

    def _item_vectors(self, hist: SequenceHistory, item_types: Sequence[str]) -> torch.Tensor:
        emb = self.embeddings
        if emb is not None and all(t in emb.types for t in item_types):
            return _lookup_history(hist, item_types, {t: emb.vectors(t) for t in item_types},
                                   self.dim)  # fmt: skip
        items = self.builder.build_items(
            item_types, {"history": (hist.item_type.numpy(), hist.items.numpy())},
            step=INFERENCE_STEP,
        )
        return self.model.item_table(items)[items.index["history"]]


__all__ = ["Action", "Encoder"]
