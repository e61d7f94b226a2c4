"""The served version: which types are searched by HNSW, and with what breadth."""

from __future__ import annotations

from graphrep.serve.state import DEFAULT_EF_SEARCH, VersionHolder, load_version


def test_hnsw_above_exact_max_with_the_default_breadth(holdout, make_run, tmp_path):
    run = make_run(tmp_path / "run", holdout.train)
    served = load_version(run, 0, exact_max=100, with_encoder=False)
    assert set(served.indexes) == {"pin"}  # 490 pins; 60 boards, 40 queries, 100 users: exact
    assert served.indexes["pin"].hnsw.efSearch == DEFAULT_EF_SEARCH == 128
    assert served.encoder is None
    narrow = load_version(run, 0, exact_max=100, with_encoder=False, ef_search=16)
    assert narrow.indexes["pin"].hnsw.efSearch == 16
    holder = VersionHolder(run.path, exact_max=100, with_encoder=False)
    assert holder.current.indexes["pin"].hnsw.efSearch == DEFAULT_EF_SEARCH
