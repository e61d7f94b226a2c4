import numpy as np
import pytest

from graphrep.errors import GraphValidationError
from graphrep.graph.ragged import Ragged


def test_from_lists_take_and_padded():
    r = Ragged.from_lists([[1, 2, 3], [], [4], [5, 6]])
    assert len(r) == 4 and r.lengths().tolist() == [3, 0, 1, 2]
    assert r.take(np.array([3, 0, 3])).to_lists() == [[5, 6], [1, 2, 3], [5, 6]]
    pad, mask = r.to_padded(np.array([0, 1, 3]), max_len=2, pad=-1)
    assert pad.tolist() == [[1, 2], [-1, -1], [5, 6]]
    assert mask.tolist() == [[True, True], [False, False], [True, True]]


def test_invalid_offsets_are_rejected():
    with pytest.raises(GraphValidationError, match="end at len"):
        Ragged(np.array([0, 2, 5]), np.arange(4))
    with pytest.raises(GraphValidationError, match="non-decreasing"):
        Ragged(np.array([0, 3, 2, 4]), np.arange(4))


def test_from_lists_refuses_what_it_would_coerce():
    with pytest.raises(GraphValidationError, match=r"ragged row 1: expected a list of integers.*1\.5"):
        Ragged.from_lists([[1], [1.5]])
    for bad in ([["a"]], [[True]], [[1, 2**40]]):
        with pytest.raises(GraphValidationError, match="ragged row 0"):
            Ragged.from_lists(bad)
    assert Ragged.from_lists([[2**40]], dtype=np.int64).to_lists() == [[2**40]]
