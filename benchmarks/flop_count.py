"""Per-module FLOP counting for ``train_throughput.py --only flops``.

Every dispatched op is charged with torch's own FLOP formulas
(:mod:`torch.utils.flop_counter`): forward ops to the innermost running module (by
qualified name), backward ops to ``"backward"``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from torch import nn


class FlopCount:
    """FLOPs of every dispatched op (torch's own formulas, :mod:`torch.utils.flop_counter`),
    forward ones charged to the innermost running module (by qualified name), backward
    ones to ``"backward"``."""

    def __init__(self, model: nn.Module) -> None:
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils.flop_counter import flop_registry

        self.counts: dict[str, float] = defaultdict(float)
        self.by_op: dict[str, float] = defaultdict(float)
        self.stack = ["(outside any module)"]
        outer = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                fn = flop_registry.get(func._overloadpacket)
                if fn is not None:
                    f = fn(*args, **(kwargs or {}), out_val=out)
                    where = outer.stack[-1] if outer.forward else "backward"
                    outer.counts[where] += f
                    outer.by_op[str(func._overloadpacket)] += f
                return out

        self.mode, self.forward, self.handles = Mode(), True, []
        for name, m in model.named_modules():
            self.handles.append(m.register_forward_pre_hook(self._push(name)))
            self.handles.append(m.register_forward_hook(self._pop))

    def _push(self, name: str) -> Any:
        def hook(*_: Any) -> None:
            self.stack.append(name)

        return hook

    def _pop(self, *_: Any) -> None:
        self.stack.pop()

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
