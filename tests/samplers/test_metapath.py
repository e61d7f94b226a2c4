import numpy as np
import pytest

from graphrep.errors import ConfigError, GraphValidationError, SchemaError
from graphrep.graph.heterograph import HeteroGraph
from graphrep.samplers.metapath import MetaPath, pack_hops


def _graph() -> HeteroGraph:
    return HeteroGraph.from_edges(
        {"pin": 4, "board": 2, "user": 3},
        {
            ("pin", "saved_to", "board"): {
                "src": [0, 1, 2, 3],
                "dst": [0, 0, 1, 1],
                "weight": [1.0, 2.0, 3.0, 0.0],
            },
            ("user", "engaged", "pin"): ([0, 1, 2, 2], [0, 1, 2, 3]),
        },
    )


def test_resolves_names_and_edge_types_and_chain_types():
    g = _graph()
    mp = MetaPath(g, ["saved_to", ("board", "rev_saved_to", "pin"), "rev_engaged", "engaged"])
    assert mp.edge_types == (
        ("pin", "saved_to", "board"),
        ("board", "rev_saved_to", "pin"),
        ("pin", "rev_engaged", "user"),
        ("user", "engaged", "pin"),
    )
    assert mp.node_types == ("pin", "board", "pin", "user", "pin")
    assert mp.num_hops == len(mp) == 4
    assert mp.is_cyclic and mp.start_type == mp.end_type == "pin"
    assert [mp.type_at(j) for j in range(9)] == ["pin", "board", "pin", "user"] * 2 + ["pin"]
    assert mp.csrs[0] is g.csr("saved_to")
    assert "pin -saved_to-> board" in repr(mp)


def test_single_relation_and_non_cyclic_path():
    g = _graph()
    one = MetaPath(g, "saved_to")
    assert one.node_types == ("pin", "board") and not one.is_cyclic
    same = MetaPath(g, ("pin", "saved_to", "board"))
    assert same.edge_types == one.edge_types
    assert MetaPath.resolve(g, one) is one


def test_unknown_relation_names_it_and_lists_known_ones():
    with pytest.raises(SchemaError, match=r"hop 1.*'follows'.*known relation names.*saved_to"):
        MetaPath(_graph(), ["saved_to", "follows"])


def test_relations_that_do_not_chain_are_rejected():
    with pytest.raises(GraphValidationError, match=r"does not chain at hop 1.*ends at 'board'"):
        MetaPath(_graph(), ["saved_to", "engaged"])


def test_empty_path_and_bad_weight_length():
    g = _graph()
    with pytest.raises(ConfigError, match="at least one relation"):
        MetaPath(g, [])
    with pytest.raises(ConfigError, match="one edge-array name"):
        MetaPath(g, ["saved_to", "rev_saved_to"], weight=["weight"])
    with pytest.raises(ConfigError, match="other graph"):
        MetaPath.resolve(_graph(), MetaPath(g, "saved_to"))


def test_weights_row_cumulative_and_validated():
    g = _graph()
    mp = MetaPath(g, ["saved_to", "rev_saved_to"], weight="weight")
    # reverse rows: board 0 <- pins 0 (w=1), 1 (w=2); board 1 <- pins 2 (w=3), 3 (w=0)
    np.testing.assert_array_equal(mp.cumweights[1], [1.0, 3.0, 3.0, 3.0])
    np.testing.assert_array_equal(mp.cumweights[0], [1.0, 2.0, 3.0, 0.0])
    with pytest.raises(SchemaError, match=r"rev_engaged.*no edge array 'weight'"):
        MetaPath(g, ["rev_engaged", "engaged"], weight="weight")
    bad = HeteroGraph.from_edges(
        {"a": 2}, {("a", "r", "a"): {"src": [0, 1], "dst": [1, 0], "weight": [1.0, -1.0]}}
    )
    with pytest.raises(GraphValidationError, match=r"weight -1.0 at edge 1.*>= 0"):
        MetaPath(bad, ["r"], weight="weight")


def test_pack_hops_deduplicates_pads_and_shares_memory():
    g = _graph()
    mp = MetaPath(g, ["rev_engaged", "engaged"] * 3)
    indptrs, indices, cws, weighted, hop_rel = pack_hops([mp])
    np.testing.assert_array_equal(hop_rel, [0, 1, 0, 1, 0, 1])
    assert len(indptrs) == len(indices) == len(cws) == len(weighted) == 4  # padded
    assert not weighted.any()
    for arr, src in ((indptrs[0], g.csr("rev_engaged").indptr), (indices[1], g.csr("engaged").indices)):
        assert not arr.flags.writeable and np.shares_memory(arr, src)
    other = MetaPath(g, ["saved_to", "rev_saved_to"], weight="weight")
    *_, weighted2, hop_rel2 = pack_hops([mp, other])
    np.testing.assert_array_equal(hop_rel2, [0, 1, 0, 1, 0, 1, 2, 3])
    assert weighted2[:4].tolist() == [False, False, True, True]
