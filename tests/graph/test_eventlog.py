import numpy as np
import pytest

from graphrep.errors import GraphValidationError, SchemaError
from graphrep.graph.eventlog import EventLog


def log():
    return EventLog.from_arrays(
        user=[1, 0, 1, 0, 2],
        item=[3, 4, 5, 6, 0],
        timestamp=[10, 5, 2, 7, 1],
        num_users=4,
        action=[0, 1, 1, 0, 1],
        action_names=("click", "save"),
        duration=[1.0, 2.0, 3.0, 4.0, 5.0],
    )


def test_sorted_by_user_then_time_and_ragged():
    e = log()
    assert e.user.tolist() == [0, 0, 1, 1, 2]
    assert e.timestamp.tolist() == [5, 7, 2, 10, 1]
    assert e.item.tolist() == [4, 6, 5, 3, 0]
    assert e.duration.tolist() == [2.0, 4.0, 3.0, 1.0, 5.0]
    assert e.user_offsets.tolist() == [0, 2, 4, 5, 5]
    assert e.events_per_user().tolist() == [2, 2, 1, 0]
    assert e.item[e.user_slice(1)].tolist() == [5, 3]


def test_time_slicing():
    e = log()
    hist, fut = e.before(6), e.after(6)
    assert len(hist) + len(fut) == len(e)
    assert hist.item.tolist() == [4, 5, 0] and hist.user_offsets.tolist() == [0, 1, 2, 3, 3]
    assert fut.item.tolist() == [6, 3]
    assert e.slice_time(2, 7).item.tolist() == [4, 5]


def test_save_load(tmp_path):
    e = log()
    e.save(tmp_path / "ev")
    assert EventLog.load(tmp_path / "ev").equals(e)


def test_bad_inputs():
    with pytest.raises(GraphValidationError, match=r"'user'.*out of range"):
        EventLog.from_arrays([5], [0], [0], num_users=2)
    with pytest.raises(GraphValidationError, match="'timestamp': expected integers"):
        EventLog.from_arrays([0], [0], [0.5], num_users=1)
    with pytest.raises(GraphValidationError, match="'action'"):
        EventLog.from_arrays([0], [0], [0], num_users=1, action=[2], action_names=("a", "b"))
    with pytest.raises(GraphValidationError, match=r"'item' \(type 'pin'\).*out of range"):
        EventLog.from_arrays([0], [9], [0], num_users=1, num_items={"pin": 3})
    with pytest.raises(SchemaError, match="'pin' is not a node type"):
        EventLog.from_arrays([0], [0], [0], num_users=1, num_items={"item": 3})
    with pytest.raises(GraphValidationError, match="one value per event"):
        EventLog.from_arrays([0, 0], [0, 1], [0], num_users=1)
    assert (
        len(EventLog.from_arrays(np.zeros(0, int), np.zeros(0, int), np.zeros(0, int), num_users=2))
        == 0
    )
