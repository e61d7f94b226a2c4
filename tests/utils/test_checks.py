import math

import pytest

from graphrep.errors import ConfigError
from graphrep.utils.checks import at_least, choice, finite


def test_checks_pass_good_values():
    at_least(1, "a.b")
    at_least(0.0, "a.b", minimum=0.0)
    finite(-3.5, "a.b")
    choice("x", "a.b", ("x", "y"))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: at_least(0, "train.steps"), r"train.steps must be >= 1, got 0"),
        (lambda: finite(math.nan, "train.lr"), r"train.lr must be a finite number"),
        (lambda: finite(math.inf, "train.lr"), r"train.lr must be a finite number"),
        (lambda: choice("z", "model.encoder", ("a", "b")), r"model.encoder must be one of \['a', 'b'\]"),
    ],
)
def test_checks_name_the_field(call, match):
    with pytest.raises(ConfigError, match=match):
        call()
