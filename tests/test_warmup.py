"""``python -m graphrep.warmup``: trains and exports the tiny preset in a temporary
directory (compiling the kernels on that path) and leaves nothing behind."""

import pytest

from graphrep.errors import ConfigError
from graphrep.warmup import main, warm


def test_warm_trains_exports_and_cleans_up(tmp_path):
    assert warm(1, workdir=tmp_path) > 0
    assert list(tmp_path.iterdir()) == []


def test_main_reports(capsys):
    assert main(["--steps", "1"]) == 0
    assert "compiled and cached" in capsys.readouterr().out


@pytest.mark.parametrize("steps", [0, -1, 1.5, True])
def test_bad_steps_is_a_named_error(steps):
    with pytest.raises(ConfigError, match="steps"):
        warm(steps)
