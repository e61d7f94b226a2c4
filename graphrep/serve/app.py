"""``graphrep serve``: embeddings, neighbours and new-entity encoding over HTTP (FastAPI + uvicorn).

Endpoints (JSON; the OpenAPI page is ``/docs``, the schema ``/openapi.json``):

* ``GET /health`` -- version served, dim, entity counts, search kind per type;
* ``POST /neighbors`` -- top-``k`` of a target type for stored entities (``type`` + ``ids``)
  or raw ``vectors``: exact search up to ``exact_max`` rows, faiss HNSW above;
* ``POST /encode`` -- new pins / boards / queries from content + edges, or users from action
  sequences (:class:`~graphrep.embed.encode.Encoder`), optionally with their neighbours;
* ``GET /entities/{type}/{id}`` -- a stored vector.

Bad requests get 4xx answers naming the field (``{"detail": [{"loc": [...], "msg": ...}]}``):
422 for an unknown type, a wrong vector dimension, ``k <= 0``, an oversized batch or a
malformed body; 404 for an unknown id; 413 for a body over ``max_body`` bytes. Bodies are
parsed as JSON only (nothing is unpickled or evaluated). The server binds 127.0.0.1 unless
told otherwise. A refreshed version is loaded in the background and swapped in between
requests (:mod:`graphrep.serve.state`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException
from fastapi.responses import Response

from graphrep import __version__
from graphrep.embed import ann
from graphrep.errors import GraphrepError, SchemaError
from graphrep.graph.ragged import Ragged
from graphrep.serve.schemas import (
    EncodeRequest,
    EncodeResponse,
    EntityResponse,
    Health,
    NeighborsRequest,
    NeighborsResponse,
    error,
)
from graphrep.serve.state import DEFAULT_EF_SEARCH, Served, VersionHolder, as_ids

MAX_BODY = 1 << 20


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, separators=(",", ":")), status, media_type="application/json")


def _fail(status: int, loc: list[Any], msg: str) -> HTTPException:
    return HTTPException(status, [error(loc, msg)])


class BodyLimit:
    """ASGI middleware: 413 for a body over ``limit`` bytes (declared or streamed)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for k, v in scope["headers"]:
            if k == b"content-length" and int(v or 0) > self.limit:
                return await self._too_large(send)
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            msg = await receive()
            seen += len(msg.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return msg

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._too_large(send)

    async def _too_large(self, send: Any) -> None:
        body = json.dumps({"detail": [error(["body"], f"request body over {self.limit} bytes")]})
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": body.encode()})


class _TooLarge(Exception):
    pass


def _type(served: Served, t: str | None, field: str) -> str:
    types = served.embeddings.types
    if t is None or t not in types:
        raise _fail(422, ["body", field], f"unknown entity type {t!r}; served types: {types}")
    return t


def _search(served: Served, q: np.ndarray, target: str, k: int,
            exclude: np.ndarray | None) -> list[list[dict]]:
    emb = served.embeddings
    index = served.indexes.get(target)
    scores, rows = ann.top_k(q, emb.count(target), lambda a, b: emb.vectors_at(target, slice(a, b)), k,
                             index, exclude)  # fmt: skip
    ids = emb.ids(target)[np.maximum(rows, 0)].tolist()
    return [[{"id": i, "score": round(float(s), 6)} for i, s, r in zip(ri, si, rr, strict=True) if r >= 0]
            for ri, si, rr in zip(ids, scores, rows, strict=True)]  # fmt: skip


def _neighbors(served: Served, req: NeighborsRequest) -> dict:
    emb = served.embeddings
    if (req.ids is None) == (req.vectors is None):
        raise _fail(422, ["body", "ids"], "give exactly one of `ids` (with `type`) or `vectors`")
    if req.ids is not None:
        qt = _type(served, req.type, "type")
        target = _type(served, req.target_type or qt, "target_type")
        try:
            rows = emb.index_of(qt, as_ids(req.ids, emb.ids(qt)))
        except (SchemaError, KeyError) as exc:
            raise _fail(404, ["body", "ids"], str(exc).strip("'\"")) from None
        q = emb.vectors_at(qt, rows)
        exclude = rows if req.exclude_self and target == qt else None
    else:
        target = _type(served, req.target_type or req.type, "target_type")
        q = np.asarray(req.vectors, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != emb.dim:
            raise _fail(422, ["body", "vectors"], f"expected vectors of dimension {emb.dim}, got "
                        f"shape {list(q.shape)}")
        if not np.isfinite(q).all():
            raise _fail(422, ["body", "vectors"], "vectors must be finite")
        exclude = None
    return {"version": served.version, "target_type": target, "search": served.search_kind(target),
            "results": _search(served, q, target, req.k, exclude)}  # fmt: skip


def _encode(served: Served, req: EncodeRequest) -> dict:
    enc = served.encoder
    if enc is None:
        raise _fail(503, ["body"], "this service runs without an encoder (started with --no-encode "
                    "or on a bare embeddings directory)")
    try:
        if req.type == "user":
            if req.sequences is None:
                raise _fail(422, ["body", "sequences"], "users are encoded from `sequences`")
            from graphrep.embed.encode import Action

            seqs = [[Action(**a.model_dump()) for a in s] for s in req.sequences]
            z = enc.encode_users(seqs, req.query_time)
        else:
            if req.type not in enc.node_types:
                raise _fail(422, ["body", "type"], f"unknown or unencoded type {req.type!r}; "
                            f"encoded types: {enc.node_types} and 'user'")
            if not req.nodes:
                raise _fail(422, ["body", "nodes"], f"new {req.type!r} nodes are given in `nodes`")
            z = enc.encode_new(req.type, *_node_inputs(enc, req))
    except HTTPException:
        raise
    except GraphrepError as exc:
        raise _fail(422, ["body", "sequences" if req.type == "user" else "nodes"], str(exc)) from None
    out: dict[str, Any] = {"version": served.version, "type": req.type, "vectors": z.tolist()}
    if req.k:
        target = _type(served, req.target_type or req.type, "target_type")
        out["neighbors"] = _search(served, z, target, req.k, None)
    return out


def _node_inputs(enc: Any, req: EncodeRequest) -> tuple[dict, dict]:
    graph_feats = enc.graph.features[req.type]
    names = {n for node in req.nodes for n in node.features}
    unknown = sorted(names - set(graph_feats))
    if unknown:
        raise _fail(422, ["body", "nodes", "features"], f"unknown feature(s) {unknown} of "
                    f"{req.type!r}; its features: {sorted(graph_feats)}")
    feats: dict[str, Any] = {}
    for name in names:
        col = [node.features.get(name) for node in req.nodes]
        if isinstance(graph_feats[name], Ragged):
            if any(v is not None and any(not float(x).is_integer() for x in v) for v in col):
                raise _fail(422, ["body", "nodes", "features", name], "token ids must be integers")
            feats[name] = [[int(x) for x in (v or [])] for v in col]
        else:
            d = graph_feats[name].shape[1]
            if any(v is None or len(v) != d for v in col):
                raise _fail(422, ["body", "nodes", "features", name],
                            f"dense feature {name!r} needs {d} values in every node")
            feats[name] = np.asarray(col, dtype=np.float32)
    rels = {r for node in req.nodes for r in node.edges}
    edges = {r: [node.edges.get(r, []) for node in req.nodes] for r in rels}
    return feats, edges


def create_app(run: str | os.PathLike, exact_max: int = 10_000, encode: bool = True,
               poll_s: float = 0.5, max_body: int = MAX_BODY,
               ef_search: int = DEFAULT_EF_SEARCH) -> FastAPI:
    """The ASGI app serving ``run`` (a run directory, or a bare embeddings directory).

    Args:
        run: run directory (its current embeddings version, reloaded when a refresh
            publishes a new one) or embeddings directory.
        exact_max: exact search for target types of up to this many rows, HNSW above.
        encode: load the model for ``/encode`` (a few seconds at start and per reload).
        poll_s: seconds between checks for a new version.
        max_body: largest request body in bytes.
        ef_search: HNSW search breadth (:data:`~graphrep.serve.state.DEFAULT_EF_SEARCH`).
    """
    holder = VersionHolder(run, exact_max, encode, poll_s, ef_search)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        holder.start()
        yield
        holder.stop()

    app = FastAPI(title="graphrep", version=__version__, lifespan=lifespan,
                  description="Entity embeddings of a graphrep run: neighbours, lookups and "
                  "encoding of new entities into the trained space.")  # fmt: skip
    app.state.holder = holder

    @app.get("/health", response_model=Health)
    async def health() -> Response:
        s = holder.current
        e = s.embeddings
        return _json({"status": "ok", "version": s.version, "dim": e.dim,
                      "types": {t: e.count(t) for t in e.types},
                      "search": {t: s.search_kind(t) for t in e.types}, "encoder": s.encoder is not None})

    @app.post("/neighbors", response_model=NeighborsResponse)
    async def neighbors(req: NeighborsRequest) -> Response:
        return _json(_neighbors(holder.current, req))

    @app.post("/encode", response_model=EncodeResponse)
    def encode_(req: EncodeRequest) -> Response:  # runs in the thread pool (model forward)
        return _json(_encode(holder.current, req))

    @app.get("/entities/{entity_type}/{entity_id}", response_model=EntityResponse)
    async def entity(entity_type: str, entity_id: str) -> Response:
        s = holder.current
        e = s.embeddings
        if entity_type not in e.types:
            raise _fail(404, ["path", "entity_type"], f"unknown entity type {entity_type!r}; served "
                        f"types: {e.types}")
        try:
            ids = as_ids([entity_id], e.ids(entity_type))
            vec = e.lookup(entity_type, ids)[0]
        except (SchemaError, KeyError):
            raise _fail(404, ["path", "entity_id"], f"unknown id {entity_id!r} of {entity_type!r}") from None
        return _json({"version": s.version, "type": entity_type, "id": ids[0].item(),
                      "vector": vec.tolist()})

    app.add_middleware(BodyLimit, limit=max_body)
    return app


def serve(run: str | os.PathLike, host: str = "127.0.0.1", port: int = 8000, **kwargs: Any) -> None:
    """Run the service with uvicorn (one process; ``kwargs`` go to :func:`create_app`)."""
    import uvicorn

    uvicorn.run(create_app(run, **kwargs), host=host, port=port, log_level="warning")


__all__ = ["create_app", "serve"]
