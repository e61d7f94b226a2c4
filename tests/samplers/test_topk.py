import numba
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from graphrep.samplers.hashmap import capacity_for, find, find_or_insert, table_shift
from graphrep.samplers.topk import heap_drain, heap_offer


@numba.njit(cache=True)
def _topk(scores, ids, k):
    h_s = np.empty(k)
    h_i = np.empty(k, np.int64)
    size = 0
    for j in range(scores.shape[0]):
        size = heap_offer(h_s, h_i, size, k, scores[j], ids[j])
    out_s = np.empty(size)
    out_i = np.empty(size, np.int64)
    heap_drain(h_s, h_i, size, out_s, out_i)
    return out_s, out_i


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 10**6)), max_size=60, unique_by=lambda t: t[1]),
    st.integers(1, 20),
)
def test_heap_top_k_equals_full_sort_with_id_tie_break(items, k):
    scores = np.array([float(s) for s, _ in items])
    ids = np.array([i for _, i in items], dtype=np.int64)
    got_s, got_i = _topk(scores, ids, k)
    ref = sorted(items, key=lambda t: (-t[0], t[1]))[:k]
    assert got_i.tolist() == [i for _, i in ref]
    assert got_s.tolist() == [float(s) for s, _ in ref]


@numba.njit(cache=True)
def _insert_all(keys_in, capacity):
    keys = np.full(capacity, -1, np.int64)
    counts = np.zeros(capacity, np.int64)
    shift = table_shift(capacity)
    for key in keys_in:
        pos, _ = find_or_insert(keys, key, shift)
        counts[pos] += 1
    return keys, counts, shift


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 2**62), max_size=200))
def test_hash_table_counts_every_key(keys_in):
    keys_in = np.array(keys_in + keys_in[: len(keys_in) // 2], dtype=np.int64)
    cap = capacity_for(len(set(keys_in.tolist())))
    keys, counts, shift = _insert_all(keys_in, cap)
    got = {int(k): int(c) for k, c in zip(keys, counts, strict=True) if k >= 0}
    uniq, cnt = np.unique(keys_in, return_counts=True)
    assert got == dict(zip(uniq.tolist(), cnt.tolist(), strict=True))
    for key in uniq[:10]:
        assert keys[find(keys, int(key), shift)] == key
    assert find(keys, 2**62 + 1, shift) == -1
