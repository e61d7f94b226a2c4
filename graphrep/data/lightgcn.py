r"""LightGCN / NGCF implicit-feedback files (``train.txt``, ``test.txt``) as a bipartite graph.

The format of NGCF (Wang et al., SIGIR 2019, https://arxiv.org/abs/1905.08108) and LightGCN
(He et al., SIGIR 2020, https://arxiv.org/abs/2002.02126) benchmarks (Gowalla, Yelp2018,
Amazon-Book): one line per user, ``user item item ...``, space separated, 0-based ids; a
user may have no items (a line with the user id alone). Evaluation ranks all items a user
has not interacted with in training (Recall@20 / NDCG@20).

Parsing is vectorised over the raw bytes (no Python loop per line or token): a token
starts at a digit after a non-digit; its value is
:math:`\sum_k d_k 10^{\ell - 1 - k}` computed with one ``np.add.reduceat``; the first
token of each line is the user. Anything but digits, spaces, tabs and line breaks is an
error naming the file and line number.

Conventions of the returned :class:`~graphrep.data.dataset.GraphDataset`:

* node types ``"user"`` and ``"item"``, counts ``max id + 1`` over both files;
* relation ``("user", "interacted", "item")`` from ``train.txt`` only (reverse
  ``rev_interacted`` is built automatically); repeated pairs are kept as they appear;
* ``truth["test_pairs"]`` int64 ``[m, 2]`` (user, item) from ``test.txt``;
* ``meta``: ``name`` (default: the folder name, lower case), ``task="recommendation"``,
  ``source`` (the folder), ``user_type``, ``item_type``, ``relation``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from graphrep.data.dataset import GraphDataset
from graphrep.errors import GraphFormatError
from graphrep.graph.heterograph import HeteroGraph

RELATION = ("user", "interacted", "item")
_MAX_DIGITS = 18  # int64 holds every 18-digit number
_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[ord("0") : ord("9") + 1] = True
_ALLOWED = _DIGIT.copy()
_ALLOWED[list(b" \t\r\n")] = True
_POW10 = 10 ** np.arange(_MAX_DIGITS, dtype=np.int64)


def parse_interactions(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one LightGCN file into ``(users, items)`` int64 arrays, one entry per pair.

    Args:
        path: ``train.txt`` / ``test.txt``: lines ``user item item ...``.

    Returns:
        ``(users, items)`` of equal length, pairs in file order.

    Raises:
        GraphFormatError: missing file, a non-integer token or an id over 18 digits
            (names the file and the 1-based line number).
    """
    users, items, _ = _parse(Path(path))
    return users, items


def _parse(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(pair users, pair items, every user id that starts a line)``."""
    if not path.is_file():
        raise GraphFormatError(f"interaction file {str(path)!r} does not exist")
    buf = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    is_digit = _DIGIT[buf]
    if not _ALLOWED[buf].all():
        _fail(path, buf, int(np.argmin(_ALLOWED[buf])), "expected non-negative integer ids")
    prev = np.concatenate([[False], is_digit[:-1]])
    nxt = np.concatenate([is_digit[1:], [False]])
    starts = np.flatnonzero(is_digit & ~prev)
    ends = np.flatnonzero(is_digit & ~nxt) + 1  # exclusive
    lengths = ends - starts
    if len(lengths) and lengths.max() > _MAX_DIGITS:
        _fail(path, buf, int(starts[np.argmax(lengths)]), f"ids of at most {_MAX_DIGITS} digits")
    digit_pos = np.flatnonzero(is_digit)
    token_of_digit = np.repeat(np.arange(len(starts)), lengths)
    vals = (buf[digit_pos] - ord("0")) * _POW10[ends[token_of_digit] - 1 - digit_pos]
    values = np.add.reduceat(vals, np.cumsum(lengths) - lengths) if len(starts) else vals
    line = np.searchsorted(np.flatnonzero(buf == ord("\n")), starts)  # newlines before start
    first = np.ones(len(starts), dtype=bool)
    first[1:] = line[1:] != line[:-1]
    owner = np.cumsum(first) - 1  # index of the line-leading token (the user) per token
    line_users = values[first]
    return line_users[owner[~first]], values[~first], line_users


def _fail(path: Path, buf: np.ndarray, pos: int, expected: str) -> None:
    line_no = int(np.count_nonzero(buf[:pos] == ord("\n"))) + 1
    newlines = np.flatnonzero(buf[:pos] == ord("\n"))
    lo = int(newlines[-1]) + 1 if len(newlines) else 0
    hi = pos + int(np.argmax(np.append(buf[pos:], 10) == ord("\n")))
    text = bytes(buf[lo:hi]).decode("utf-8", "replace")[:80]
    raise GraphFormatError(f"{str(path)!r} line {line_no}: {text!r}: {expected}")


def load_lightgcn(root: str | os.PathLike, name: str | None = None) -> GraphDataset:
    """Load ``root/train.txt`` and ``root/test.txt`` as a recommendation dataset.

    Args:
        root: the folder with ``train.txt`` and ``test.txt``.
        name: ``meta["name"]``; default the folder name in lower case (e.g. ``"gowalla"``).

    Returns:
        A :class:`GraphDataset` following the conventions in the module docstring.

    Raises:
        GraphFormatError: missing folder or file, or a malformed line (file and line named).
    """
    root = Path(root)
    if not root.is_dir():
        raise GraphFormatError(f"LightGCN data folder {str(root)!r} is not a directory")
    tr_u, tr_i, tr_users = _parse(root / "train.txt")
    te_u, te_i, te_users = _parse(root / "test.txt")

    def top(*arrays: np.ndarray) -> int:
        return max((int(a.max()) + 1 for a in arrays if len(a)), default=0)

    num = {"user": top(tr_users, te_users), "item": top(tr_i, te_i)}
    graph = HeteroGraph.from_edges(num, {RELATION: (tr_u, tr_i)})
    meta = {
        "name": name or root.resolve().name.lower(), "task": "recommendation",
        "source": str(root), "user_type": "user", "item_type": "item",
        "relation": list(RELATION),
    }
    truth = {"test_pairs": np.stack([te_u, te_i], axis=1).astype(np.int64)}
    return GraphDataset(graph, None, truth, meta)
