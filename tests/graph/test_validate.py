"""Checks of user input: ids (no silent coercion), counts that cannot fit memory."""

from __future__ import annotations

import numpy as np
import pytest

from graphrep.errors import GraphValidationError
from graphrep.graph.validate import check_allocation, check_external_ids, check_node_ids


def test_uint64_ids_beyond_int64_are_out_of_range_not_negative():
    ids = np.array([1, 2**63], dtype=np.uint64)
    with pytest.raises(GraphValidationError, match="node id 9223372036854775808 at position 1 is out"):
        check_node_ids(ids, 10, "col")
    with pytest.raises(GraphValidationError, match="9223372036854775808 at position 1 does not fit"):
        check_external_ids(ids, 2, "ids")
    assert check_node_ids(np.array([3], np.uint64), 10, "col").tolist() == [3]


def test_mixed_external_ids_are_refused_not_stringified():
    with pytest.raises(GraphValidationError, match=r"all integers or all strings; id 'b' at position 1"):
        check_external_ids([1, "b", 3.5], 3, "node_ids['pin']")
    with pytest.raises(GraphValidationError, match=r"id 3\.5 at position 2 is a float"):
        check_external_ids([1, 2, 3.5], 3, "ids")
    assert check_external_ids(["a", "b"], 2, "ids").dtype.kind == "U"
    assert check_external_ids([5, 7], 2, "ids").dtype == np.int64


def test_a_count_beyond_memory_is_named():
    with pytest.raises(GraphValidationError, match=r"node type 'a': count = 1099511627776.*GiB"):
        check_allocation(2**40, 8, "node type 'a': count")
    check_allocation(1000, 8, "fine")
