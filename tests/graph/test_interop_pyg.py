import numpy as np
import pytest
import torch
import torch_geometric.transforms as T
from torch_geometric.data import Data, HeteroData

from graphrep import HeteroGraph, Ragged
from graphrep.errors import GraphValidationError
from graphrep.graph.interop.pyg import from_pyg, to_pyg

ENG = ("user", "engaged", "pin")
SAVE = ("board", "saved", "pin")


def rich_graph():
    return HeteroGraph.from_edges(
        {"user": 3, "pin": 4, "board": 2},
        {
            ENG: {
                "src": [0, 0, 2, 1, 2, 2],
                "dst": [3, 1, 0, 1, 0, 0],  # (2, 0) three times: parallel edges
                "timestamp": np.array([5, 6, 7, 8, 9, 10], dtype=np.int64),
                "weight": np.array([0.5, 1, 2, 3, 4, 5], dtype=np.float32),
            },
            SAVE: ([1, 0, 1], [2, 2, 3]),
        },
        node_ids={"user": [30, 10, 20], "pin": ["p0", "p1", "p2", "p3"]},
        features={
            "pin": {
                "x": np.arange(12, dtype=np.float32).reshape(4, 3),
                "text": Ragged.from_lists([[1, 2], [], [7], [3, 4, 5]]),
            },
            "user": {"age": np.array([[20.0], [30.0], [40.0]])},
        },
    )


def test_to_pyg_layout():
    g = rich_graph()
    data = to_pyg(g)
    assert isinstance(data, HeteroData)
    assert data.node_types == ["user", "pin", "board"]
    assert data.edge_types == [ENG, SAVE]
    assert data["board"].num_nodes == 2
    ei = data[ENG].edge_index
    assert ei.dtype == torch.int64 and ei.shape == (2, 6)
    src, dst = g.csr(ENG).to_coo()
    assert ei[0].tolist() == src.tolist() and ei[1].tolist() == dst.tolist()
    assert data[ENG].weight.tolist() == g.csr(ENG).edge_data["weight"].tolist()
    assert torch.equal(data["pin"].x, torch.arange(12, dtype=torch.float32).reshape(4, 3))
    assert data["pin"].text_offsets.tolist() == [0, 2, 2, 3, 6]
    assert data["pin"].text_values.tolist() == [1, 2, 7, 3, 4, 5]
    assert data["user"].ext_id.tolist() == [30, 10, 20]
    assert data["pin"].ext_id.tolist() == ["p0", "p1", "p2", "p3"]
    # zero-copy for writable arrays
    assert np.shares_memory(data["pin"].x.numpy(), g.features["pin"]["x"])


def test_round_trip_exact():
    g = rich_graph()
    assert from_pyg(to_pyg(g)).equals(g)
    assert HeteroGraph.from_pyg(g.to_pyg()).equals(g)


def test_round_trip_with_reverses():
    g = rich_graph()
    data = to_pyg(g, include_reverse=True)
    assert ("pin", "rev_engaged", "user") in data.edge_types
    rev = data["pin", "rev_engaged", "user"].edge_index
    fwd = data[ENG].edge_index
    pairs = sorted(zip(*fwd.flip(0).tolist(), strict=True))
    assert sorted(zip(*rev.tolist(), strict=True)) == pairs
    assert from_pyg(data).equals(g)


def test_pyg_to_undirected_reverses_are_dropped():
    g = rich_graph()
    data = T.ToUndirected()(to_pyg(g))
    assert ("pin", "rev_saved", "board") in data.edge_types
    back = from_pyg(data)
    assert back.canonical_edge_types == [ENG, SAVE]
    assert back.equals(g)


def test_rev_relation_that_is_not_a_transpose_is_rejected():
    data = to_pyg(rich_graph())
    data["pin", "rev_saved", "board"].edge_index = torch.tensor([[0], [1]])
    with pytest.raises(GraphValidationError, match=r"'rev_saved'.*not the transpose"):
        from_pyg(data)


def test_homogeneous_data():
    edge_index = torch.tensor([[0, 1, 2, 2, 0], [1, 2, 0, 3, 1]])
    data = Data(
        x=torch.randn(5, 3),
        edge_index=edge_index,
        edge_weight=torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]),
        y=torch.arange(5),  # node labels, same length as edges: not an edge array
        train_mask=torch.ones(5, dtype=torch.bool),
        edge_attr=torch.randn(5, 2),  # [E, d] edge attribute: skipped, not a node feature
    )
    g = from_pyg(data)
    assert g.num_nodes == {"node": 5}
    assert g.canonical_edge_types == [("node", "to", "node")]
    csr = g.csr("to")
    assert csr.neighbors(0).tolist() == [1, 1]
    assert csr.neighbors(2).tolist() == [0, 3]
    assert csr.edge_data.keys() == {"edge_weight"}
    assert csr.edge_data["edge_weight"].tolist() == [1.0, 5.0, 2.0, 3.0, 4.0]
    assert set(g.features["node"]) == {"x"}
    assert np.array_equal(g.features["node"]["x"], data.x.numpy())
    merged = from_pyg(data, duplicates="merge")
    assert merged.csr("to").neighbors(0).tolist() == [1]
    # merge sums the array named 'weight' (here: the count); other arrays keep the first value
    assert merged.csr("to").edge_data["weight"][0] == 2.0
    assert merged.csr("to").edge_data["edge_weight"][0] == 1.0


def test_foreign_heterodata_num_nodes_inferred_and_errors():
    data = HeteroData()
    data["a"].x = torch.ones(3, 2)
    data["a", "r", "b"].edge_index = torch.tensor([[0, 2], [4, 1]])
    g = from_pyg(data)
    assert g.num_nodes == {"a": 3, "b": 5}  # b: max id + 1
    bad = HeteroData()
    bad["a"].num_nodes = 2
    bad["a", "r", "a"].edge_index = torch.tensor([[0, 2], [1, 1]])
    with pytest.raises(GraphValidationError, match=r"'r'.*edge_index\[0\].*node id 2"):
        from_pyg(bad)
    with pytest.raises(GraphValidationError, match="expected HeteroData or Data"):
        from_pyg({"a": 1})


def test_readonly_arrays_are_copied(tmp_path):
    g = rich_graph()
    g.save(tmp_path / "g")
    loaded = HeteroGraph.load(tmp_path / "g", mmap=True)
    data = to_pyg(loaded)  # must not warn or fail on read-only memory maps
    assert torch.equal(data["pin"].x, torch.from_numpy(g.features["pin"]["x"]))
    assert from_pyg(data).equals(g)
