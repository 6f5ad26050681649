"""Devices for the model manager: how tensors move, how much memory there is, what an out-of-memory looks like.

A :class:`Mover` is the only thing that copies weights between the offload device (where they rest) and
the compute device (where they run).  :class:`TorchMover` does it with ``Tensor.to``; when both devices
are the same (``--cpu``) nothing moves and the manager only keeps its accounts.

:class:`SimulatedDevice` is a second device made of RAM, for tests and ``benchmarks/memory.py`` on
machines without a GPU: computation stays on the CPU, but every move is a real copy, counted, and the
manager treats it exactly like an accelerator.  Wrap any mover in :class:`MoveSpy` to record each move.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch


class Mover(Protocol):
    """Moves single tensors between the offload and the compute device."""

    @property
    def compute_device(self) -> torch.device:
        """Where inputs go and computation runs."""
        ...

    @property
    def offload_device(self) -> torch.device:
        """Where weights rest."""
        ...

    @property
    def moves(self) -> bool:
        """False when both devices are the same: the manager then moves nothing."""
        ...

    @property
    def label(self) -> str:
        """The compute device as shown in status reports."""
        ...

    def to_compute(self, tensor: torch.Tensor) -> torch.Tensor:
        """A copy of ``tensor`` on the compute device."""
        ...

    def to_offload(self, tensor: torch.Tensor) -> torch.Tensor:
        """A copy of ``tensor`` on the offload device."""
        ...


class TorchMover:
    """``Tensor.to`` between two torch devices (non-blocking from pinned memory is left to torch)."""

    def __init__(self, compute: torch.device | str, offload: torch.device | str = "cpu") -> None:
        import torch

        self._compute = torch.device(compute)
        self._offload = torch.device(offload)

    @property
    def compute_device(self) -> torch.device:
        return self._compute

    @property
    def offload_device(self) -> torch.device:
        return self._offload

    @property
    def moves(self) -> bool:
        return self._compute != self._offload

    @property
    def label(self) -> str:
        return str(self._compute)

    def to_compute(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(self._compute)

    def to_offload(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(self._offload)


class SimulatedDevice:
    """A compute device made of RAM (see the module docstring): moves are real copies, compute is the CPU's.

    Args:
        label: the name shown in status reports.
    """

    def __init__(self, label: str = "sim:0") -> None:
        import torch

        self._label = label
        self._cpu = torch.device("cpu")

    @property
    def compute_device(self) -> torch.device:
        return self._cpu

    @property
    def offload_device(self) -> torch.device:
        return self._cpu

    @property
    def moves(self) -> bool:
        return True

    @property
    def label(self) -> str:
        return self._label

    def to_compute(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.detach().clone()

    def to_offload(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.detach().clone()


@dataclass
class MoveSpy:
    """A mover that records every move of the mover it wraps.

    Attributes:
        inner: the wrapped mover.
        log: ``(direction, nbytes)`` per move, direction ``"in"`` (to compute) or ``"out"``.
        listeners: called with ``(direction, nbytes)`` after each move.
    """

    inner: Mover
    log: list[tuple[str, int]] = field(default_factory=list)
    listeners: list[Callable[[str, int], None]] = field(default_factory=list)

    @property
    def compute_device(self) -> torch.device:
        return self.inner.compute_device

    @property
    def offload_device(self) -> torch.device:
        return self.inner.offload_device

    @property
    def moves(self) -> bool:
        return self.inner.moves

    @property
    def label(self) -> str:
        return self.inner.label

    def to_compute(self, tensor: torch.Tensor) -> torch.Tensor:
        out = self.inner.to_compute(tensor)
        self._record("in", tensor.nbytes)
        return out

    def to_offload(self, tensor: torch.Tensor) -> torch.Tensor:
        out = self.inner.to_offload(tensor)
        self._record("out", tensor.nbytes)
        return out

    def bytes(self, direction: str) -> int:
        return sum(n for d, n in self.log if d == direction)

    def _record(self, direction: str, nbytes: int) -> None:
        self.log.append((direction, nbytes))
        for listener in self.listeners:
            listener(direction, nbytes)


# --------------------------------------------------------------------------------------------------
# Devices and their memory


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA, then MPS, then the CPU; anything else as a torch device.

    Raises:
        ValueError: a string torch does not accept as a device.
    """
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"settings.device {name!r} is not a torch device ('auto', 'cpu', 'cuda:0' ...)") from exc
    if device.type == "cuda" and device.index is None and torch.cuda.is_available():
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def ram_total() -> int:
    """Bytes of RAM on this machine."""
    import os

    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # not POSIX
        return 16 << 30


def device_memory(device: torch.device) -> int:
    """Bytes the compute device offers now: CUDA's free memory plus what torch holds but does not use;
    for MPS the recommended working-set size; for the CPU the RAM."""
    import torch

    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        stats = torch.cuda.memory_stats(device)
        cached = int(stats.get("reserved_bytes.all.current", 0)) - int(stats.get("active_bytes.all.current", 0))
        return int(free) + max(0, cached)
    if device.type == "mps":
        recommended = getattr(torch.mps, "recommended_max_memory", None)
        return int(recommended()) if recommended is not None else ram_total()
    return ram_total()


def empty_cache(device: torch.device) -> None:
    """Give the allocator's unused cached blocks back (CUDA and MPS)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return
    if device.type == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


def is_out_of_memory(exc: BaseException) -> bool:
    """True for torch's out-of-memory errors (CUDA, and MPS's RuntimeError text)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
