import sys

import numpy as np
import pytest

from graphrep import HeteroGraph, Ragged
from graphrep.graph.interop import dgl as dgl_interop

ENG = ("user", "engaged", "pin")


def small_graph():
    return HeteroGraph.from_edges(
        {"user": 2, "pin": 3},
        {ENG: {"src": [0, 0, 1], "dst": [2, 0, 2], "timestamp": [5, 6, 7]}},
        node_ids={"user": [10, 20], "pin": ["a", "b", "c"]},
        features={
            "pin": {"x": np.eye(3, dtype=np.float32), "t": Ragged.from_lists([[1], [], [2]])}
        },
    )


def test_missing_dgl_gives_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "dgl", None)  # makes `import dgl` raise ImportError
    with pytest.raises(ImportError, match=r"needs the optional dependency dgl.*graphrep\[dgl\]"):
        dgl_interop.to_dgl(small_graph())
    with pytest.raises(ImportError, match=r"torch <= 2\.2"):
        small_graph().to_dgl()


def test_to_dgl_real_conversion():
    dgl = pytest.importorskip("dgl")
    g = small_graph()
    d = dgl_interop.to_dgl(g)
    assert isinstance(d, dgl.DGLGraph)
    assert d.num_nodes("user") == 2 and d.num_nodes("pin") == 3
    assert set(d.canonical_etypes) == {ENG, ("pin", "rev_engaged", "user")}
    src, dst = d.edges(etype=ENG)
    ref_src, ref_dst = g.csr(ENG).to_coo()
    assert src.tolist() == ref_src.tolist() and dst.tolist() == ref_dst.tolist()
    assert d.edges[ENG].data["timestamp"].tolist() == g.csr(ENG).edge_data["timestamp"].tolist()
    assert d.nodes["pin"].data["x"].numpy().tolist() == np.eye(3).tolist()
    assert d.nodes["user"].data["ext_id"].tolist() == [10, 20]
    assert "t" not in d.nodes["pin"].data  # ragged features have no DGL form
    assert dgl_interop.to_dgl(g, include_reverse=False).canonical_etypes == [ENG]
