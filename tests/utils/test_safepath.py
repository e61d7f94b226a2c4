import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphrep.errors import GraphValidationError, UnsafePathError
from graphrep.utils.safepath import MAX_NAME_BYTES, resolve_inside, safe_name


def test_plain_names_are_kept_and_others_encoded():
    assert safe_name("image", "feature") == "image"
    assert safe_name("co-engaged_2", "relation") == "co-engaged_2"
    assert safe_name("../../escaped", "feature") == "%2E%2E%2F%2E%2E%2Fescaped"
    assert safe_name("a b/ü", "feature") == "a%20b%2F%C3%BC"
    assert safe_name("x.offsets", "feature") == "x%2Eoffsets"  # never collides with a suffix
    assert safe_name("50%", "feature") == "50%25"


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30))
def test_safe_names_are_one_component_and_injective(a, b):
    sa = safe_name(a, "name")
    assert "/" not in sa and "\x00" not in sa and not sa.startswith(".") and sa not in ("", "..")
    if a != b:
        assert sa != safe_name(b, "name")


def test_bad_names_are_refused_by_name():
    for bad in ("", None, 3):
        with pytest.raises(GraphValidationError, match="feature name"):
            safe_name(bad, "feature name")
    with pytest.raises(GraphValidationError, match=f"at most {MAX_NAME_BYTES}"):
        safe_name("ü" * 100, "feature name")


def test_entries_inside_resolve(tmp_path):
    (tmp_path / "a").mkdir()
    assert resolve_inside(tmp_path, "a/x.npy", "m") == tmp_path / "a" / "x.npy"


@pytest.mark.parametrize("entry", ["/etc/passwd", "../x.npy", "a/../../x.npy", "", None, 7,
                                   "~/x.npy", "a\\..\\x", "x\x00.npy"])  # fmt: skip
def test_entries_leaving_the_directory_are_refused(tmp_path, entry):
    with pytest.raises(UnsafePathError, match=r"manifest\.json"):
        resolve_inside(tmp_path, entry, "d/manifest.json")


def test_symlinks_out_of_the_directory_are_refused(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "secret.npy"
    root.mkdir()
    outside.write_text("x")
    os.symlink(outside, root / "link.npy")
    os.symlink(tmp_path, root / "up")
    for entry in ("link.npy", "up/secret.npy"):
        with pytest.raises(UnsafePathError, match="outside"):
            resolve_inside(root, entry, "manifest.json")
    (root / "real.npy").write_text("y")
    os.symlink(root / "real.npy", root / "inner.npy")  # a link that stays inside is fine
    assert resolve_inside(root, "inner.npy", "m").name == "inner.npy"
