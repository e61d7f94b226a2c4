"""Packed model weights: a state dict as one flat tensor per dtype, tied entries stored once."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from graphrep.errors import GraphFormatError
from graphrep.train.checkpoint import load_checkpoint, save_state
from graphrep.train.packed import pack_state, unpack_state


class Tied(nn.Module):
    """Two linear layers sharing one weight, an int buffer and a bool buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 3)
        self.b.weight = self.a.weight
        self.register_buffer("steps", torch.tensor([4, 5], dtype=torch.int64))
        self.register_buffer("flags", torch.tensor([True, False]))
        self.register_buffer("empty", torch.zeros(0, 3))


def test_pack_round_trips_and_stores_a_tied_weight_once():
    m = Tied()
    sd = m.state_dict()
    packed = pack_state(sd)
    assert sorted(packed["data"]) == ["bool", "float32", "int64"]
    assert packed["data"]["float32"].numel() == 9 + 3 + 3  # one weight, two biases
    assert packed["data"]["int64"].tolist() == [4, 5]
    names = packed["names"].split("\n")
    offsets = dict(zip(names, packed["meta"][:, 0].tolist(), strict=True))
    assert offsets["a.weight"] == offsets["b.weight"] == 0
    back = unpack_state(packed, "here")
    assert list(back) == list(sd)  # state-dict order
    for k, v in sd.items():
        assert back[k].dtype == v.dtype and torch.equal(back[k], v), k
    other = Tied()
    other.load_state_dict(back)
    assert other.b.weight is other.a.weight and torch.equal(other.a.weight, m.a.weight)


def test_a_checkpoint_is_written_packed_and_read_back_as_a_state_dict(tmp_path):
    m = Tied()
    save_state(tmp_path / "model.pt", {"step": 3, "model": m.state_dict()})
    raw = torch.load(tmp_path / "model.pt", weights_only=True)
    assert "model" not in raw and set(raw["model_packed"]) == {"data", "names", "dtypes", "meta", "shapes"}
    state = load_checkpoint(tmp_path / "model.pt")
    assert state["step"] == 3 and torch.equal(state["model"]["a.bias"], m.a.bias)
    torch.save({"step": 1, "model": m.state_dict()}, tmp_path / "old.pt")  # written unpacked
    assert torch.equal(load_checkpoint(tmp_path / "old.pt")["model"]["steps"], m.steps)


@pytest.mark.parametrize("mutate, match", [
    (lambda p: p["meta"].__setitem__((0, 0), 10**6), "lies past the end"),
    (lambda p: p["meta"].__setitem__((0, 1), 5), "do not add up"),
    (lambda p: p["shapes"].__setitem__(0, -3), "negative"),
    (lambda p: p.__setitem__("dtypes", p["dtypes"].replace("float32", "complex64", 1)), "no data"),
    (lambda p: p.__setitem__("names", p["names"].replace("a.bias", "a.weight")), "appears twice"),
    (lambda p: p.__setitem__("dtypes", "float32"), "one dtype and one"),
    (lambda p: p["data"].__setitem__("float32", torch.zeros(2, 2)), "not a 1-D tensor"),
    (lambda p: p.pop("meta"), "expected a dict"),
])  # fmt: skip
def test_bad_packed_weights_are_refused_naming_the_file(tmp_path, mutate, match):
    packed = pack_state(Tied().state_dict())
    mutate(packed)
    torch.save({"step": 1, "model_packed": packed}, tmp_path / "bad.pt")
    with pytest.raises(GraphFormatError, match=f"bad.pt.*{match}"):
        load_checkpoint(tmp_path / "bad.pt")
