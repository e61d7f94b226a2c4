"""Request and response bodies of the HTTP service (pydantic models; JSON only, never pickle).

Sizes are bounded here (ids per request, vectors, actions, k) and the whole body by the
app's size limit, so one request cannot ask for unbounded work.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

MAX_BATCH = 256  # queries / new entities per request
MAX_K = 1000
MAX_ACTIONS = 1024  # actions per user sequence
MAX_TOKENS = 4096  # values per feature
ExternalId = Annotated[int | str, Field(union_mode="left_to_right")]


class StrictModel(BaseModel):
    """A request body that refuses fields it does not declare (a typo is a 422, not ignored)."""

    model_config = ConfigDict(extra="forbid")


class NeighborsRequest(StrictModel):
    """Top-``k`` neighbours of stored entities (``ids``) or of raw ``vectors``."""

    type: str | None = Field(None, description="entity type of `ids` (e.g. pin, user, query)")
    ids: list[ExternalId] | None = Field(None, max_length=MAX_BATCH, description="external ids")
    vectors: list[list[float]] | None = Field(
        None, max_length=MAX_BATCH, description="raw query vectors (each of the store's dim)")
    k: int = Field(10, gt=0, le=MAX_K, description="neighbours per query")
    target_type: str | None = Field(None, description="type of the neighbours (default: `type`)")
    exclude_self: bool = Field(True, description="drop the query itself (same type)")


class Neighbor(BaseModel):
    """One neighbour: its external id and its score (inner product or cosine)."""

    id: ExternalId
    score: float


class NeighborsResponse(BaseModel):
    """Answer of ``POST /neighbors``: one list of neighbours per query."""

    version: int
    target_type: str
    search: str = Field(description="exact or hnsw")
    results: list[list[Neighbor]]


class EntityResponse(BaseModel):
    """Answer of ``GET /entities/{type}/{id}``: the stored vector of one entity."""

    version: int
    type: str
    id: ExternalId
    vector: list[float]


class NewNode(StrictModel):
    """A new pin / board / query: its features and its edges to known nodes."""

    features: dict[str, list[float] | list[int]] = Field(
        default_factory=dict, description="dense features as float lists, token features as id lists")
    edges: dict[str, Annotated[list[ExternalId], Field(max_length=MAX_TOKENS)]] = Field(
        default_factory=dict, description="relation name -> external ids of known nodes")


class Action(StrictModel):
    """One user action: the item's external id, a Unix timestamp, and optional codes."""

    item: ExternalId
    timestamp: int
    item_type: str | None = None
    action: str | int = 0
    surface: str | int = 0


class EncodeRequest(StrictModel):
    """New entities of one type (``nodes``), or users from action sequences (``sequences``)."""

    type: str = Field(description="an encoded node type, or `user` with `sequences`")
    nodes: list[NewNode] | None = Field(None, max_length=MAX_BATCH)
    sequences: list[Annotated[list[Action], Field(min_length=1, max_length=MAX_ACTIONS)]] | None = \
        Field(None, max_length=MAX_BATCH)
    query_time: int | None = Field(None, description="users: embedding time (default: the run's "
                                   "cut, or just after the latest action)")
    k: int = Field(0, ge=0, le=MAX_K, description="also return this many neighbours per vector")
    target_type: str | None = Field(None, description="type of those neighbours (default: `type`)")


class EncodeResponse(BaseModel):
    version: int
    type: str
    vectors: list[list[float]]
    neighbors: list[list[Neighbor]] | None = None


class Health(BaseModel):
    status: str
    version: int
    dim: int
    types: dict[str, int]
    search: dict[str, str]
    encoder: bool


def error(loc: list[Any], msg: str, kind: str = "value_error") -> dict[str, Any]:
    """One error entry in FastAPI's ``{"detail": [...]}`` shape."""
    return {"loc": loc, "msg": msg, "type": kind}
