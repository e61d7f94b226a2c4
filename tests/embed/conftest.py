"""A run directory of the tiny preset with held-out pins (see tests/conftest.py)."""

import pytest


@pytest.fixture
def held_run(holdout, make_run, tmp_path):
    return make_run(tmp_path / "run", holdout.train)
