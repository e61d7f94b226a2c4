"""The HTTP service against a real uvicorn server: good and bad requests, reload under load."""

from __future__ import annotations

import threading

import httpx
import numpy as np

from graphrep.data.holdout_nodes import edges_touching, node_rows
from graphrep.embed.changes import Changes
from graphrep.embed.refresh import refresh_run
from graphrep.embed.store import Embeddings
from graphrep.embed.versions import embeddings_path


def _post(url, path, body, **kw):
    return httpx.post(url + path, json=body, timeout=60, **kw)


def test_health_docs_and_lookups(served):
    run, srv = served
    h = httpx.get(srv.url + "/health").json()
    emb = Embeddings.load(embeddings_path(run.path))
    assert h["version"] == 0 and h["dim"] == emb.dim and h["encoder"]
    assert h["types"]["pin"] == emb.count("pin") and h["search"] == {
        "pin": "hnsw", "board": "exact", "query": "exact", "user": "exact"}
    assert httpx.get(srv.url + "/docs").status_code == 200
    assert "/neighbors" in httpx.get(srv.url + "/openapi.json").json()["paths"]
    r = httpx.get(srv.url + "/entities/board/3").json()
    np.testing.assert_allclose(r["vector"], emb.lookup("board", [3])[0], atol=1e-6)


def test_neighbors_match_the_store(served):
    run, srv = served
    emb = Embeddings.load(embeddings_path(run.path))
    r = _post(srv.url, "/neighbors", {"type": "board", "ids": [1, 2], "k": 5})
    assert r.status_code == 200, r.text
    want = emb.neighbors("board", [1, 2], k=5)
    assert [[n["id"] for n in row] for row in r.json()["results"]] == want.ids.tolist()
    q = emb.lookup("query", [4]).tolist()
    r = _post(srv.url, "/neighbors", {"vectors": q, "k": 10, "target_type": "pin"}).json()
    assert r["search"] == "hnsw" and len(r["results"][0]) == 10
    exact = emb.neighbors_of_vectors(np.array(q, np.float32), 10, "pin")
    assert len(set(n["id"] for n in r["results"][0]) & set(exact.ids[0].tolist())) >= 8


def test_bad_requests_name_the_field(served):
    _, srv = served
    cases = [
        ({"type": "nope", "ids": [1]}, 422, "type"),
        ({"type": "pin", "ids": [10**9]}, 404, "ids"),
        ({"type": "pin", "ids": [1], "k": 0}, 422, "k"),
        ({"vectors": [[0.1, 0.2]], "target_type": "pin"}, 422, "vectors"),
        ({"type": "pin", "ids": list(range(300))}, 422, "ids"),
        ({"type": "pin", "ids": [1], "target_type": "nope"}, 422, "target_type"),
        ({"type": "pin", "ids": [1], "bogus": 1}, 422, "bogus"),
    ]
    for body, status, field in cases:
        r = _post(srv.url, "/neighbors", body)
        assert r.status_code == status, (body, r.text)
        assert field in r.json()["detail"][0]["loc"], (body, r.text)
    r = httpx.post(srv.url + "/neighbors", content=b"{not json", timeout=30,
                   headers={"content-type": "application/json"})
    assert r.status_code == 422
    r = httpx.post(srv.url + "/neighbors", content=b"[" + b"1," * 200_000 + b"1]", timeout=30,
                   headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert httpx.get(srv.url + "/entities/pin/xyz").status_code == 404
    assert httpx.get(srv.url + "/entities/nope/1").status_code == 404
    r = _post(srv.url, "/encode", {"type": "pin", "nodes": [{"features": {"image": [0.0] * 3}}]})
    assert r.status_code == 422 and "image" in r.json()["detail"][0]["loc"]
    r = _post(srv.url, "/encode", {"type": "user", "sequences": [[{"item": 1, "timestamp": 5,
                                                                   "action": "jump"}]]})
    assert r.status_code == 422 and "jump" in r.json()["detail"][0]["msg"]


def test_encode_new_pins_and_users(served, holdout):
    _, srv = served
    full = holdout.full.graph
    p = int(holdout.held[0])
    image = np.asarray(full.features["pin"]["image"][p]).tolist()
    text = full.features["pin"]["text"][p].tolist()
    boards = full.csr("rev_contains").neighbors(p).tolist()
    r = _post(srv.url, "/encode", {"type": "pin", "k": 5, "nodes": [
        {"features": {"image": image, "text": text}, "edges": {"contains": boards}},
        {"features": {"image": image, "text": text}}]})
    assert r.status_code == 200, r.text
    z = np.array(r.json()["vectors"])
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)
    assert len(r.json()["neighbors"][0]) == 5
    r = _post(srv.url, "/encode", {"type": "user", "sequences": [
        [{"item": 3, "timestamp": 100, "action": "click"}, {"item": 4, "timestamp": 200}]]})
    assert r.status_code == 200 and len(r.json()["vectors"][0]) == z.shape[1]


def test_reload_under_requests_drops_nothing(served, holdout):
    run, srv = served
    held = holdout.held
    failures, done, versions = [], threading.Event(), set()

    def hammer():
        with httpx.Client(timeout=30) as c:
            while not done.is_set():
                r = c.post(srv.url + "/neighbors", json={"type": "pin", "ids": [1, 2], "k": 5})
                if r.status_code != 200:
                    failures.append(r.text)
                else:
                    versions.add(r.json()["version"])

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    changes = Changes({"pin": node_rows(holdout.full.graph, "pin", held)},
                      {et[1]: e for et, e in edges_touching(holdout.full.graph, "pin", held).items()})
    refresh_run(run.path, changes)
    import time

    deadline = time.monotonic() + 60
    while httpx.get(srv.url + "/health").json()["version"] != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    done.set()
    for t in threads:
        t.join()
    assert not failures
    assert versions == {0, 1}
    r = _post(srv.url, "/neighbors", {"type": "pin", "ids": [int(held[0])], "k": 3})
    assert r.status_code == 200 and r.json()["version"] == 1
