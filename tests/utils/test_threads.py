"""passive_openmp: sets the passive OpenMP wait policy before torch loads, never over the
user's choice, and ``import graphrep`` applies it in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys

from graphrep.utils.threads import passive_openmp


def test_sets_passive_only_before_torch_and_without_a_user_choice():
    env: dict[str, str] = {}
    assert passive_openmp(env, set()) and env == {"OMP_WAIT_POLICY": "PASSIVE"}
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert not passive_openmp(env, set()) and env == {"OMP_WAIT_POLICY": "ACTIVE"}
    env = {"GOMP_SPINCOUNT": "10000"}
    assert not passive_openmp(env, set()) and "OMP_WAIT_POLICY" not in env
    env = {}
    assert not passive_openmp(env, {"torch"}) and env == {}


def test_import_graphrep_sets_it_for_torch():
    code = "import os, graphrep, torch; print(os.environ.get('OMP_WAIT_POLICY'))"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ACTIVE"
