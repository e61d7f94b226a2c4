"""Bounded local load test of ``POST /neighbors`` (k = 10) beside in-process searches.

Starts ``graphrep serve RUN --port P --no-encode`` on 127.0.0.1 (one uvicorn process, its
default event loop and HTTP parser: uvloop + httptools when installed), then drives it
from this process with a minimal asyncio HTTP/1.1 client: ``--concurrency`` keep-alive
connections, each sending pin -> pin neighbour queries for random stored pins back to
back. The test stops by itself after ``--requests`` requests or ``--seconds`` seconds,
whichever comes first, and only ever talks to 127.0.0.1. Then the same queries run in
process (no HTTP): through the same search the server uses (HNSW above ``--exact-max``
rows, exact below) and through ``Embeddings.neighbors`` (exact). The HTTP overhead per
request is the p50 over HTTP minus the p50 of the same search in process.

    python benchmarks/serve_load.py RUN [--concurrency 16] [--requests 20000] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np

from graphrep.embed import ann
from graphrep.embed.store import Embeddings
from graphrep.embed.versions import embeddings_path
from graphrep.serve.state import DEFAULT_EF_SEARCH

HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("the server did not come up")


def _request(port: int, body: bytes) -> bytes:
    return (f"POST /neighbors HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _connection(port: int, payloads: list[bytes], stop_at: float, budget: list[int],
                      lat: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    i = 0
    try:
        while budget[0] > 0 and time.perf_counter() < stop_at:
            budget[0] -= 1
            req = payloads[i % len(payloads)]
            i += 1
            t = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            lat.append(time.perf_counter() - t)
            if not head.startswith(b"HTTP/1.1 200"):
                errors.append(head.split(b"\r\n", 1)[0].decode())
    finally:
        writer.close()


async def _drive(port: int, payloads: list[bytes], concurrency: int, requests: int,
                 seconds: float) -> tuple[list[float], list[str], float]:
    lat: list[float] = []
    errors: list[str] = []
    budget = [requests]
    t0 = time.perf_counter()
    await asyncio.gather(*(_connection(port, payloads, t0 + seconds, budget, lat, errors)
                           for _ in range(concurrency)))  # fmt: skip
    return lat, errors, time.perf_counter() - t0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ms(x: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(x) * 1e3, q))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--exact-max", type=int, default=10_000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--ef-search", type=int, default=DEFAULT_EF_SEARCH)
    args = p.parse_args()
    load_before = os.getloadavg()
    emb = Embeddings.load(embeddings_path(args.run))
    rng = np.random.default_rng(0)
    ids = emb.ids("pin")[rng.integers(0, emb.count("pin"), 2000)]
    payloads = [json.dumps({"type": "pin", "ids": [int(i)], "k": args.k}).encode() for i in ids]
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "graphrep", "serve", args.run, "--host", HOST,
                             "--port", str(port), "--no-encode", "--exact-max", str(args.exact_max),
                             "--ef-search", str(args.ef_search)],
                            env=env)  # fmt: skip
    try:
        _wait(f"http://{HOST}:{port}", proc)
        reqs = [_request(port, b) for b in payloads]
        asyncio.run(_drive(port, reqs, args.concurrency, args.warmup, 60))
        server0, client0 = _cpu_s(proc.pid), time.process_time()
        lat, errors, wall = asyncio.run(_drive(port, reqs, args.concurrency, args.requests,
                                               args.seconds))  # fmt: skip
        server_cpu, client_cpu = _cpu_s(proc.pid) - server0, time.process_time() - client0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # the same queries in process, one at a time
    import faiss

    faiss.omp_set_num_threads(1)
    index = ann.build_index(emb.vectors("pin"), "hnsw") if emb.count("pin") > args.exact_max else None
    if index is not None:
        index.hnsw.efSearch = args.ef_search
    same, exact = [], []
    same_cpu = 0.0
    for i in ids[:1000]:
        row = emb.index_of("pin", [i])
        t, c = time.perf_counter(), time.process_time()
        ann.top_k(emb.vectors_at("pin", row), emb.count("pin"),
                  lambda a, b: emb.vectors_at("pin", slice(a, b)), args.k, index, row)
        same.append(time.perf_counter() - t)
        same_cpu += time.process_time() - c
        t = time.perf_counter()
        emb.neighbors("pin", [i], k=args.k)
        exact.append(time.perf_counter() - t)
    search_cpu_us = same_cpu / len(same) * 1e6
    res = {
        "requests": len(lat), "errors": len(errors), "concurrency": args.concurrency,
        "wall_s": wall, "requests_per_s": len(lat) / wall,
        "http_p50_ms": _ms(lat, 50), "http_p99_ms": _ms(lat, 99),
        "search": "hnsw" if index is not None else "exact",
        "inprocess_same_search_p50_ms": _ms(same, 50), "inprocess_same_search_p99_ms": _ms(same, 99),
        "inprocess_exact_neighbors_p50_ms": _ms(exact, 50),
        "http_overhead_p50_ms": _ms(lat, 50) - _ms(same, 50),
        "server_cpu_us_per_request": server_cpu / len(lat) * 1e6,
        "client_cpu_us_per_request": client_cpu / len(lat) * 1e6,
        "server_requests_per_cpu_s": len(lat) / server_cpu,
        "inprocess_search_cpu_us": search_cpu_us,
        "http_overhead_cpu_us_per_request": server_cpu / len(lat) * 1e6 - search_cpu_us,
        "http_over_inprocess_p50_ratio": _ms(lat, 50) / _ms(same, 50),
        "ef_search": args.ef_search,
        "hnsw_recall_at_10": ann.ann_recall(index, emb.vectors("pin"), emb.lookup("pin", ids[:300]), 10)
        if index is not None else 1.0,
        "pins": emb.count("pin"), "dim": emb.dim, "cores": os.cpu_count(),
        "load_avg_before": load_before, "load_avg_after": os.getloadavg(),
    }  # fmt: skip
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
