r"""HNSW recall@k against exact inner-product search, per query type, for an export whose
target type has learned (non-unit) norms::

    python benchmarks/ann_norms.py RUN [--target pin] [--queries 1000] [--ef-search 32 128]

Three indexes over the target type, M = 32, efConstruction = 80:

* ``plain_ip``: what :func:`graphrep.embed.ann.build_index` builds (``"hnsw"``, ``"ip"``);
* ``euclidean``: the reduction of inner-product search to L2 nearest neighbours (Bachrach
  et al., RecSys 2014): :math:`x' = [x, \sqrt{M^2 - |x|^2}]`, :math:`q' = [q, 0]` with
  :math:`M` the largest norm, so :math:`|q' - x'|^2 = |q|^2 + M^2 - 2 q^\top x`;
* ``unit_norms``: plain HNSW over the vectors scaled to unit norm (the search error where
  norms are equal; its exact answers differ, so a reference for the search only).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from graphrep.embed import ann
from graphrep.embed.store import Embeddings
from graphrep.embed.versions import embeddings_path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run")
    p.add_argument("--target", default="pin")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--ef-search", type=int, nargs="+", default=[32, 128])
    args = p.parse_args()
    emb = Embeddings.load(embeddings_path(args.run))
    x = np.array(emb.vectors(args.target))
    norms = np.linalg.norm(x, axis=1)
    unit = x / np.maximum(norms, 1e-12)[:, None]
    rng = np.random.default_rng(0)
    res: dict = {"target": args.target, "count": len(x), "norm_min": float(norms.min()),
                 "norm_median": float(np.median(norms)), "norm_max": float(norms.max()),
                 "recall": {}}  # fmt: skip
    m2 = float((norms.astype(np.float64) ** 2).max())
    aug = np.c_[x, np.sqrt(np.maximum(m2 - norms.astype(np.float64) ** 2, 0))].astype(np.float32)
    euclid = ann.build_index(aug, "hnsw", "l2")
    indexes = {"plain_ip": (ann.build_index(x, "hnsw"), x), "euclidean": (euclid, None),
               "unit_norms": (ann.build_index(unit, "hnsw"), unit)}  # fmt: skip
    queries = {t: emb.vectors_at(t, np.sort(rng.choice(emb.count(t), min(args.queries, emb.count(t)),
                                                       replace=False)))
               for t in emb.types}  # fmt: skip
    for ef in args.ef_search:
        for name, (index, v) in indexes.items():
            index.hnsw.efSearch = ef
            for t, q in queries.items():
                if v is None:  # the reduction: the exact answers are x's inner products
                    want = ann.exact_search(q, len(x), lambda a, b: x[a:b], args.k)[1]
                    got = ann.search(index, np.c_[q, np.zeros(len(q))], args.k)[1]
                    r = float((got[:, :, None] == want[:, None, :]).any(2).mean())
                else:
                    r = ann.ann_recall(index, v, q, args.k)
                res["recall"].setdefault(f"ef{ef}", {}).setdefault(t, {})[name] = r
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
