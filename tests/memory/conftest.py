"""Fixtures for the model manager tests: toy models of known sizes, a probe that measures what is on the
simulated device independently of the manager's own accounts, and managers with injected budgets.

On a CPU-only machine the compute device is :class:`nodes.memory.SimulatedDevice`: every move to it is a
real copy, so a weight is "on the device" exactly when its tensor is no longer the one it rested in.  The
:class:`DeviceProbe` records each tensor's resting address before anything runs and, from forward hooks on
every module, measures the bytes whose address changed (plus the working memory the manager reserved) and
checks that no module computes with a weight still at its resting address (both at every leaf module's
forward, where the computing happens).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
import torch

from nodes.memory import Budgets, ModelManager, MoveSpy, SimulatedDevice
from tests.diffusion.conftest import lora_dir, make_runtime, model_base, rt, tiny_models  # noqa: F401 (fixtures)

MIB = 1 << 20


def toy(layers: int = 8, width: int = 64, seed: int = 0) -> torch.nn.Sequential:
    """``layers`` Linear(width, width) layers with a BatchNorm at the end (buffers count too)."""
    torch.manual_seed(seed)
    mods: list[torch.nn.Module] = [torch.nn.Linear(width, width) for _ in range(layers)]
    mods.append(torch.nn.BatchNorm1d(width))
    return torch.nn.Sequential(*mods).eval()


def nbytes(module: torch.nn.Module) -> int:
    return sum(t.nbytes for t in (*module.parameters(), *module.buffers()))


def budgets(device: int, *, weights: int | None = None, ram: int = 1 << 40, mode: str = "normalvram",
            keep_ram_copy: bool = True) -> Budgets:
    return Budgets(mode, device, device if weights is None else weights, ram, 0, keep_ram_copy=keep_ram_copy,
                   text_encoders_on_offload=mode in ("lowvram", "novram"), eager=mode == "gpu_only")


def sim_manager(device: int, **kw: Any) -> tuple[ModelManager, MoveSpy]:
    """A manager on a simulated device with a spy on its moves, and ``device`` bytes of budget."""
    spy = MoveSpy(SimulatedDevice())
    max_units = kw.pop("max_units", 32)
    return ModelManager(mover=spy, budgets=budgets(device, **kw), max_units=max_units), spy


class DeviceProbe:
    """Measures the simulated device from the outside (see the module docstring)."""

    def __init__(self, manager: ModelManager, modules: Iterable[torch.nn.Module]) -> None:
        self.manager = manager
        self.modules = list(modules)
        self.resting: dict[tuple[int, str], int] = {}
        self.peak = 0
        self.stale: list[str] = []
        self._all = [m for root in self.modules for m in root.modules()]
        for module in self._all:
            for name, tensor in self._own(module):
                self.resting[(id(module), name)] = tensor.data_ptr()
            if not any(True for _ in module.children()):  # leaves: where the computing happens
                module.register_forward_pre_hook(self._check)

    @staticmethod
    def _own(module: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
        return [*((n, p.data) for n, p in module._parameters.items() if p is not None),
                *((n, b) for n, b in module._buffers.items() if b is not None)]

    def on_device(self) -> int:
        """Bytes of weights whose tensor is not the resting one."""
        return sum(t.nbytes for m in self._all for n, t in self._own(m) if t.data_ptr() != self.resting[(id(m), n)])

    def measure(self) -> int:
        now = self.on_device() + self.manager._working
        self.peak = max(self.peak, now)
        return now

    def _check(self, module: torch.nn.Module, args: Any) -> None:
        self.measure()
        if self.manager.mover.moves:
            for name, tensor in self._own(module):
                if tensor.data_ptr() == self.resting[(id(module), name)]:
                    self.stale.append(f"{type(module).__name__}.{name}")


@pytest.fixture
def make_sim() -> Callable[..., tuple[ModelManager, MoveSpy]]:
    return sim_manager
