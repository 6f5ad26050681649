"""A model cut into units, and the hooks that stream a unit's weights to the compute device for its forward.

Why our own streaming rather than ``diffusers.hooks.apply_group_offloading``
--------------------------------------------------------------------------
The mechanism is the same as diffusers' block-level group offloading (groups of blocks; a forward
pre-hook brings a group's tensors to the compute device, a forward hook puts them back), but the model
manager needs three things that function does not offer: keep *some* blocks resident and stream only the
rest (group offloading streams every group), move tensors through an injected :class:`~nodes.memory.devices.Mover`
(so the policy runs and is tested on a CPU-only machine), and count every byte moved.  It also does not
copy weights back after a forward: the resting copy is kept, so putting a block back costs nothing.

Units
-----
:func:`split_units` walks a module tree.  A submodule whose tensors total at most ``max_unit_bytes``
becomes one *streamable* unit: all the tensors below it, onloaded when its ``forward`` is called.  A larger
one is split: its own direct tensors (and those of ``ParameterList``/``ParameterDict`` children) form a
*pinned* unit, and its children are split in turn.  Pinned units always stay resident while the model is
loaded, because a parent may read its own tensors outside any hooked ``forward``; the roots' own tensors
are pinned for the same reason (``AutoencoderKL.decode`` is not ``forward``).  Containers
(``ModuleList``, ``ModuleDict``) are never units, since nobody calls them.  A tensor shared by two units
(tied weights) makes the whole model one pinned unit: it then loads fully or not at all.

While a unit's forward runs, its tensors are on the compute device; afterwards they point back at the
tensors they had before (so weights patched at rest, LoRA on a streamed block, stream correctly).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from nodes.memory.devices import Mover


@dataclass(frozen=True, eq=False)
class Slot:
    """One tensor of a module: a parameter (moved through ``.data``, keeping the Parameter) or a buffer."""

    module: Any
    name: str
    is_param: bool
    nbytes: int

    def get(self) -> torch.Tensor:
        if self.is_param:
            return self.module._parameters[self.name].data  # type: ignore[no-any-return]
        return self.module._buffers[self.name]  # type: ignore[no-any-return]

    def set(self, tensor: torch.Tensor) -> None:
        if self.is_param:
            self.module._parameters[self.name].data = tensor
        else:
            self.module._buffers[self.name] = tensor


@dataclass(frozen=True, eq=False)
class Unit:
    """Tensors loaded and streamed together (see the module docstring).

    Attributes:
        module: the module whose forward streams the unit (for a pinned unit: whose own tensors they are).
        slots: the tensors.
        nbytes: their total size.
        streamable: False for pinned units.
        path: the module's dotted name, for messages.
    """

    module: Any
    slots: tuple[Slot, ...]
    nbytes: int
    streamable: bool
    path: str


def _own_slots(module: Any) -> list[Slot]:
    slots = [Slot(module, n, True, p.nbytes) for n, p in module._parameters.items() if p is not None]
    slots += [Slot(module, n, False, b.nbytes) for n, b in module._buffers.items() if b is not None]
    return slots


def _subtree_slots(module: Any) -> list[Slot]:
    return [slot for m in module.modules() for slot in _own_slots(m)]


def _is_container(module: Any) -> bool:
    import torch

    return isinstance(module, (torch.nn.ModuleList, torch.nn.ModuleDict))


def _is_parameter_holder(module: Any) -> bool:
    import torch

    return isinstance(module, (torch.nn.ParameterList, torch.nn.ParameterDict))


def split_units(roots: Sequence[Any], max_unit_bytes: int) -> list[Unit]:
    """Cut the modules ``roots`` into units of at most ``max_unit_bytes`` where the tree allows it."""
    units: list[Unit] = []
    for index, root in enumerate(roots):
        units += _split(root, f"{index}", max_unit_bytes, is_root=True)
    units = [u for u in units if u.slots]
    seen: set[int] = set()
    for unit in units:
        for slot in unit.slots:
            key = id(slot.module._parameters[slot.name] if slot.is_param else slot.module._buffers[slot.name])
            if key in seen:  # tied weights: no streaming
                return [_whole(roots)]
            seen.add(key)
    return units


def _whole(roots: Sequence[Any]) -> Unit:
    slots = tuple(slot for root in roots for slot in _subtree_slots(root))
    return Unit(roots[0], slots, sum(s.nbytes for s in slots), False, "<all>")


def _split(module: Any, path: str, limit: int, *, is_root: bool = False) -> list[Unit]:
    slots = _subtree_slots(module)
    size = sum(s.nbytes for s in slots)
    children = list(module.named_children())
    if not is_root and not _is_container(module) and (size <= limit or not children):
        return [Unit(module, tuple(slots), size, True, path)]
    own = _own_slots(module)
    units: list[Unit] = []
    for name, child in children:
        if _is_parameter_holder(child):
            own += _subtree_slots(child)
        else:
            units += _split(child, f"{path}.{name}", limit)
    if own:
        units.insert(0, Unit(module, tuple(own), sum(s.nbytes for s in own), False, path))
    return units


class Streamer:
    """Hooks that stream ``units`` through ``mover`` while their modules' forwards run.

    Args:
        units: the streamed (non-resident) units.
        mover: moves tensors to the compute device.
        on_in: called with a unit's bytes when it is onloaded (before the copies).
        on_out: called with a unit's bytes when it is put back.
    """

    def __init__(
        self,
        units: Iterable[Unit],
        mover: Mover,
        on_in: Callable[[int], None],
        on_out: Callable[[int], None],
    ) -> None:
        self.units = tuple(units)
        self.mover = mover
        self.on_in = on_in
        self.on_out = on_out
        self._handles: list[Any] = []
        self._resting: dict[int, list[torch.Tensor]] = {}
        self._depth: dict[int, int] = {}

    def attach(self) -> None:
        for index, unit in enumerate(self.units):
            self._handles.append(unit.module.register_forward_pre_hook(self._pre(index), prepend=True))
            self._handles.append(unit.module.register_forward_hook(self._post(index), always_call=True))

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        for index in list(self._resting):  # a forward that never finished: put its unit back
            self._put_back(index)

    @property
    def largest(self) -> int:
        """Bytes of the largest streamed unit (what streaming adds to the device at most)."""
        return max((u.nbytes for u in self.units), default=0)

    def _pre(self, index: int) -> Callable[..., None]:
        def hook(module: Any, args: Any) -> None:
            depth = self._depth.get(index, 0)
            self._depth[index] = depth + 1
            if depth:  # re-entered: already on the device
                return
            unit = self.units[index]
            self.on_in(unit.nbytes)
            resting = [slot.get() for slot in unit.slots]
            self._resting[index] = resting
            for slot, tensor in zip(unit.slots, resting):
                slot.set(self.mover.to_compute(tensor))

        return hook

    def _post(self, index: int) -> Callable[..., None]:
        def hook(module: Any, args: Any, output: Any) -> None:
            self._depth[index] = self._depth.get(index, 1) - 1
            if self._depth[index] <= 0:
                self._put_back(index)

        return hook

    def _put_back(self, index: int) -> None:
        self._depth.pop(index, None)
        resting = self._resting.pop(index, None)
        if resting is None:
            return
        unit = self.units[index]
        for slot, tensor in zip(unit.slots, resting):
            slot.set(tensor)
        self.on_out(unit.nbytes)
