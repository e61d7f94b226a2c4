import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphrep import HeteroGraph, Ragged
from graphrep.errors import GraphFormatError, GraphValidationError
from graphrep.graph.tables import from_pandas, from_parquet, to_pandas

ENG = ("user", "engaged", "pin")
SAVE = ("board", "saved", "pin")


def rich_graph():
    """String ids, int ids, a type without ids; int/float/bool edge arrays; all feature kinds."""
    return HeteroGraph.from_edges(
        {"user": 3, "pin": 4, "board": 2},
        {
            ENG: {
                "src": [0, 0, 2, 1, 2, 2],
                "dst": [3, 1, 0, 1, 0, 0],
                "timestamp": np.array([5, 6, 7, 8, 9, 10], dtype=np.int32),
                "weight": np.array([0.5, 1, 2, 3, 4, 5], dtype=np.float32),
                "clicked": np.array([True, False, True, True, False, True]),
            },
            SAVE: ([1, 0, 1], [2, 2, 3]),
        },
        node_ids={"user": [30, 10, 20], "pin": ["p0", "p1", "p2", "p3"]},
        features={
            "pin": {
                "image": np.arange(12, dtype=np.float32).reshape(4, 3),
                "pop": np.array([[0.5], [1.5], [2.5], [3.5]]),
                "text": Ragged.from_lists([[1, 2], [], [7], [3, 4, 5]]),
            },
            "user": {"age": np.array([[20.0], [30.0], [40.0]], dtype=np.float32)},
        },
    )


def test_string_ids_from_edge_tables_only():
    edges = {
        ENG: pd.DataFrame({"src": ["u2", "u1", "u2"], "dst": ["pb", "pa", "pa"], "ts": [3, 1, 2]}),
    }
    g = from_pandas(edges)
    assert g.num_nodes == {"user": 2, "pin": 2}
    assert g.node_ids["user"].tolist() == ["u1", "u2"]  # sorted unique
    assert g.node_ids["pin"].tolist() == ["pa", "pb"]
    csr = g.csr("engaged")
    assert csr.neighbors(0).tolist() == [0]  # u1 -> pa
    assert csr.neighbors(1).tolist() == [0, 1]  # u2 -> pa, pb (sorted by dst)
    assert csr.edge_data["ts"].tolist() == [1, 2, 3]
    assert g.csr("rev_engaged").neighbors(0).tolist() == [0, 1]


def test_node_table_order_and_isolated_nodes():
    nodes = {"pin": pd.DataFrame({"id": [100, 7, 55, 9]}), "user": pd.DataFrame({"id": ["b", "a"]})}
    edges = {ENG: pd.DataFrame({"src": ["a", "a", "b"], "dst": [9, 100, 9]})}
    g = from_pandas(edges, nodes)
    assert g.num_nodes == {"pin": 4, "user": 2}
    assert g.node_ids["pin"].tolist() == [100, 7, 55, 9]  # table order, isolated 7 and 55 kept
    assert g.index_of("user", ["a"]).tolist() == [1]
    assert g.csr("engaged").neighbors(1).tolist() == [0, 3]
    assert g.degree("pin").tolist() == [1, 0, 0, 2]


def test_identity_ids_are_not_stored():
    g = from_pandas({ENG: pd.DataFrame({"src": [0, 1, 2], "dst": [1, 0, 1]})})
    assert g.node_ids == {}
    assert g.num_nodes == {"user": 3, "pin": 2}


def test_matches_from_edges():
    df = pd.DataFrame({"src": ["x", "y", "x"], "dst": [5, 3, 3], "w": [1.0, 2.0, 3.0]})
    g = from_pandas({ENG: df}, {"pin": pd.DataFrame({"id": [3, 5, 8]})})
    ref = HeteroGraph.from_edges(
        {"pin": 3, "user": 2},
        {ENG: {"src": [0, 1, 0], "dst": [1, 0, 0], "w": [1.0, 2.0, 3.0]}},
        node_ids={"pin": [3, 5, 8], "user": ["x", "y"]},
    )
    assert g.equals(ref)


@pytest.mark.parametrize("with_ids", [True, False])
def test_round_trip_pandas(with_ids):
    g = rich_graph()
    if not with_ids:
        g = HeteroGraph(
            g.num_nodes, {et: g.csr(et) for et in g.canonical_edge_types}, features=g.features
        )
    edges, nodes = to_pandas(g)
    assert list(edges) == [ENG, SAVE]
    assert set(edges[ENG].columns) == {"src", "dst", "timestamp", "weight", "clicked"}
    back = from_pandas(edges, nodes)
    assert back.equals(g)
    assert isinstance(back.features["pin"]["text"], Ragged)
    assert back.features["pin"]["image"].dtype == np.float32
    assert back.csr("engaged").edge_data["timestamp"].dtype == np.int32


def test_to_pandas_content():
    edges, nodes = to_pandas(rich_graph())
    e = edges[ENG]
    assert list(zip(e["src"], e["dst"], strict=True))[:2] == [(30, "p1"), (30, "p3")]
    assert nodes["pin"]["id"].tolist() == ["p0", "p1", "p2", "p3"]
    assert nodes["pin"]["pop"].tolist() == [0.5, 1.5, 2.5, 3.5]
    assert nodes["pin"]["text"][3].tolist() == [3, 4, 5]
    assert nodes["board"]["id"].tolist() == [0, 1]


def test_round_trip_parquet(tmp_path):
    g = rich_graph()
    edges, nodes = to_pandas(g)
    epaths, npaths = {}, {}
    for i, (et, df) in enumerate(edges.items()):
        epaths[et] = tmp_path / f"edges_{i}.parquet"
        df.to_parquet(epaths[et])
    for nt, df in nodes.items():
        npaths[nt] = tmp_path / f"{nt}.parquet"
        df.to_parquet(npaths[nt])
    back = from_parquet(epaths, npaths)
    assert back.equals(g)
    assert HeteroGraph.from_parquet(epaths, npaths).equals(g)


def test_feature_cols_groups_and_arrow_lists():
    tokens = pa.array([[1, 2], [], [3]], type=pa.large_list(pa.int32()))
    vecs = pa.FixedSizeListArray.from_arrays(pa.array(np.arange(6, dtype=np.float32)), 2)
    nodes = {
        "pin": pd.DataFrame({
            "id": ["a", "b", "c"],
            "r": [1.0, 2.0, 3.0],
            "g": [4.0, 5.0, 6.0],
            "title": ["x", "y", "z"],
            "tok": pd.Series(pd.arrays.ArrowExtensionArray(tokens)),
            "vec": pd.Series(pd.arrays.ArrowExtensionArray(vecs)),
        })
    }
    edges = {SAVE: pd.DataFrame({"src": [0], "dst": ["b"]})}
    spec = {"pin": {"rgb": ["r", "g"], "tok": "tok", "vec": "vec"}}
    g = from_pandas(edges, nodes, feature_cols=spec)
    assert g.features["pin"]["rgb"].tolist() == [[1, 4], [2, 5], [3, 6]]
    assert g.features["pin"]["tok"].to_lists() == [[1, 2], [], [3]]
    assert g.features["pin"]["vec"].tolist() == [[0, 1], [2, 3], [4, 5]]
    # default: numeric and list columns, string column 'title' ignored
    d = from_pandas(edges, nodes)
    assert set(d.features["pin"]) == {"r", "g", "tok", "vec"}
    assert d.features["pin"]["r"].shape == (3, 1)


def test_duplicates_merge():
    df = pd.DataFrame({"src": ["a", "a", "a"], "dst": ["p", "p", "q"], "weight": [1.0, 2.0, 5.0]})
    g = from_pandas({ENG: df}, duplicates="merge")
    assert g.csr("engaged").neighbors(0).tolist() == [0, 1]
    assert g.csr("engaged").edge_data["weight"].tolist() == [3.0, 5.0]


def test_edge_cols_selection():
    df = pd.DataFrame(
        {"src": [0, 1], "dst": [1, 0], "ts": [1, 2], "w": [0.1, 0.2], "note": ["a", "b"]}
    )
    assert set(from_pandas({ENG: df}).csr("engaged").edge_data) == {"ts", "w"}
    assert set(from_pandas({ENG: df}, edge_cols=["w"]).csr("engaged").edge_data) == {"w"}
    per = from_pandas({ENG: df}, edge_cols={ENG: ["ts"]})
    assert set(per.csr("engaged").edge_data) == {"ts"}
    with pytest.raises(GraphValidationError, match=r"column 'note'.*numeric"):
        from_pandas({ENG: df}, edge_cols=["note"])


# ------------------------------------------------------------------ bad input
ONE_EDGE = {ENG: pd.DataFrame({"src": [1], "dst": [2]})}


def test_missing_columns():
    with pytest.raises(GraphValidationError, match=r"relation \('user', 'engaged', 'pin'\).*'dst'"):
        from_pandas({ENG: pd.DataFrame({"src": [1]})})
    with pytest.raises(GraphValidationError, match=r"node table 'pin'.*missing column 'id'"):
        from_pandas(ONE_EDGE, {"pin": pd.DataFrame({"k": [2]})})
    with pytest.raises(GraphValidationError, match="column 'ts'"):
        from_pandas(ONE_EDGE, edge_cols=["ts"])


def test_unknown_endpoint_names_relation_column_and_id():
    nodes = {"pin": pd.DataFrame({"id": ["a", "b"]})}
    edges = {ENG: pd.DataFrame({"src": [1, 2], "dst": ["a", "zz"]})}
    with pytest.raises(GraphValidationError, match=r"'engaged'.*column 'dst'.*'zz'.*row 1"):
        from_pandas(edges, nodes)


def test_nan_and_bad_ids():
    with pytest.raises(GraphValidationError, match=r"column 'src'.*missing value.*row 1"):
        from_pandas({ENG: pd.DataFrame({"src": [1.0, np.nan], "dst": [1, 2]})})
    with pytest.raises(GraphValidationError, match=r"column 'src'.*integers or all strings"):
        from_pandas({ENG: pd.DataFrame({"src": [1.5, 2.0], "dst": [1, 2]})})
    with pytest.raises(GraphValidationError, match=r"node table 'pin' column 'id'.*unique"):
        from_pandas(ONE_EDGE, {"pin": pd.DataFrame({"id": [2, 2]})})
    mixed = {**ONE_EDGE, SAVE: pd.DataFrame({"src": [1], "dst": ["x"]})}
    with pytest.raises(GraphValidationError, match="node type 'pin': ids are integers in"):
        from_pandas(mixed)


def test_bad_feature_columns():
    nodes = {"pin": pd.DataFrame({"id": [0, 1], "emb": [[0.5, 1.0], [2.0]], "title": ["a", "b"]})}
    edges = {SAVE: pd.DataFrame({"src": [0], "dst": [1]})}
    with pytest.raises(GraphValidationError, match=r"column 'emb'.*equal lengths"):
        from_pandas(edges, nodes)
    with pytest.raises(GraphValidationError, match=r"column 'title'.*numeric"):
        from_pandas(edges, nodes, feature_cols={"pin": ["title"]})
    with pytest.raises(GraphValidationError, match="node type 'user'"):
        from_pandas(edges, nodes, feature_cols={"user": ["x"]})
    with pytest.raises(GraphValidationError, match=r"column 'v'.*missing list.*row 1"):
        from_pandas(edges, {"pin": pd.DataFrame({"id": [0, 1], "v": [[1, 2], None]})})


def test_parquet_missing_and_corrupt(tmp_path):
    missing = tmp_path / "nope.parquet"
    with pytest.raises(GraphFormatError, match=r"nope\.parquet"):
        from_parquet({ENG: missing})
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(GraphFormatError, match=r"bad\.parquet"):
        from_parquet({ENG: bad})
    good = tmp_path / "e.parquet"
    pd.DataFrame({"src": [0], "dst": [0]}).to_parquet(good)
    with pytest.raises(GraphFormatError, match=r"pins\.parquet"):
        from_parquet({ENG: good}, {"pin": tmp_path / "pins.parquet"})


# ------------------------------------------------------------------ properties
TYPES = ["a", "b", "c"]


@st.composite
def edge_tables(draw):
    counts = {t: draw(st.integers(1, 6)) for t in TYPES}
    styles = {t: draw(st.sampled_from(["str", "int", "none"])) for t in TYPES}
    ext = {}
    for t in TYPES:
        if styles[t] == "str":
            ext[t] = np.array([f"{t}{i}" for i in draw(st.permutations(range(counts[t])))])
        else:  # distinct random ints (never the identity: offset by 1000)
            ext[t] = 1000 + np.array(draw(st.permutations(range(counts[t]))), dtype=np.int64) * 7
    pair = st.tuples(st.sampled_from(TYPES), st.sampled_from(TYPES))
    ets = draw(st.lists(pair, min_size=1, max_size=4))
    edges, internal = {}, {}

    def column(elements, n):
        return np.array(draw(st.lists(elements, min_size=n, max_size=n)))

    for i, (s, d) in enumerate(ets):
        n_e = draw(st.integers(0, 12))
        src = column(st.integers(0, counts[s] - 1), n_e).astype(np.int64)
        dst = column(st.integers(0, counts[d] - 1), n_e).astype(np.int64)
        w = column(st.floats(-5, 5, width=32), n_e).astype(np.float32)
        et = (s, f"r{i}", d)
        edges[et] = pd.DataFrame(
            {"src": ext[s][src], "dst": ext[d][dst], "weight": w, "ts": np.arange(n_e)}
        )
        internal[et] = (src, dst)
    nodes = {t: pd.DataFrame({"id": ext[t]}) for t in TYPES if styles[t] != "none"}
    return edges, nodes, internal, ext, counts


@settings(max_examples=30, deadline=None)
@given(edge_tables())
def test_property_round_trip_degrees_and_reverse(case):
    edges, nodes, internal, ext, counts = case
    g = from_pandas(edges, nodes)
    back = from_pandas(*to_pandas(g))
    assert back.equals(g)
    for et, (src, dst) in internal.items():
        s_t, _, d_t = et
        # internal id of each input endpoint, via the graph's own id mapping
        s_int = g.index_of(s_t, ext[s_t][src])
        d_int = g.index_of(d_t, ext[d_t][dst])
        csr = g.csr(et)
        assert np.array_equal(csr.degrees(), np.bincount(s_int, minlength=g.num_nodes[s_t]))
        rev = g.csr(g.reverse_of(et))
        assert np.array_equal(rev.degrees(), np.bincount(d_int, minlength=g.num_nodes[d_t]))
        assert rev.equals(csr.transpose())
        fwd_pairs = sorted(zip(*csr.to_coo(), strict=True))
        assert fwd_pairs == sorted(zip(s_int.tolist(), d_int.tolist(), strict=True))
        assert sorted((d, s) for s, d in zip(*rev.to_coo(), strict=True)) == fwd_pairs
    for t in TYPES:
        if t in nodes:
            assert g.num_nodes[t] == counts[t]


@settings(max_examples=30, deadline=None)
@given(edge_tables())
def test_property_from_edges_to_pandas_round_trip(case):
    _, _, internal, ext, counts = case
    edges = {et: (s, d) for et, (s, d) in internal.items()}
    g = HeteroGraph.from_edges(counts, edges, node_ids={t: ext[t] for t in TYPES})
    assert from_pandas(*to_pandas(g)).equals(g)
