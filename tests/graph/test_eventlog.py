import numpy as np
import pytest

from graphrep.errors import GraphFormatError, GraphValidationError, SchemaError
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


def _random_log(rng, n, num_users, times):
    return dict(user=rng.integers(0, num_users, n), item=rng.integers(0, 50, n),
                timestamp=rng.integers(0, times, n), action=rng.integers(0, 2, n),
                duration=rng.random(n).astype(np.float32))


@pytest.mark.parametrize("times", [5, 10**6, 2**62])  # many ties; a key that would overflow
def test_merged_equals_sorting_the_concatenation(times):
    rng = np.random.default_rng(0)
    names = {"action_names": ("click", "save")}
    a, b = _random_log(rng, 300, 20, times), _random_log(rng, 40, 23, times)  # b has new users
    old = EventLog.from_arrays(**a, num_users=20, **names)
    both = {k: np.r_[old_col, b[k]] for k, old_col in
            (("user", old.user), ("item", old.item), ("timestamp", old.timestamp),
             ("action", old.action), ("duration", old.duration))}  # fmt: skip
    want = EventLog.from_arrays(**both, num_users=23, **names)
    got = old.merged(EventLog.from_arrays(**b, num_users=23, **names))
    assert got.equals(want)
    assert got.item.dtype == want.item.dtype and got.user_offsets.tolist() == want.user_offsets.tolist()
    with pytest.raises(SchemaError, match="vocabularies"):
        old.merged(EventLog.from_arrays(**b, num_users=23, surface_names=("home", "search"), **names))
    with pytest.raises(GraphValidationError, match="fewer"):
        want.merged(old)


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


@pytest.mark.parametrize(
    ("column", "index", "value", "match"),
    [
        ("item", 2, 10**6, r"column 'item': value 1000000 at event 2 .*item type's count"),
        ("item", 0, -3, "column 'item': value -3 at event 0"),
        ("user", 1, 3, "column 'user': value 3 at event 1"),
        ("timestamp", 1, 0, "column 'timestamp': value 0 at event 1 .*non-decreasing"),
        ("action", 4, 7, "column 'action': value 7 at event 4 .*below 2"),
        ("user_offsets", 2, 9, "user_offsets"),
    ],
)
def test_load_validates_ids_codes_and_order(tmp_path, column, index, value, match):
    log().save(tmp_path / "ev")
    path = tmp_path / "ev" / f"{column}.npy"
    arr = np.load(path)
    arr[index] = value
    np.save(path, arr)
    with pytest.raises(GraphFormatError, match=match) as info:
        EventLog.load(tmp_path / "ev", num_items={"pin": 10})
    assert str(tmp_path / "ev") in str(info.value)


def test_load_checks_column_dtypes(tmp_path):
    log().save(tmp_path / "ev")
    import json

    np.save(tmp_path / "ev" / "item.npy", np.load(tmp_path / "ev" / "item.npy").astype(np.float64))
    m = json.loads((tmp_path / "ev" / "manifest.json").read_text())
    m["arrays"]["item"]["dtype"] = "<f8"
    (tmp_path / "ev" / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(GraphFormatError, match="'item' has dtype float64"):
        EventLog.load(tmp_path / "ev")
