"""Memory modes and byte budgets: what the user asked for, turned into numbers (standard library only).

The command line (``latentloom run`` and ``latentloom serve`` take the same flags, see
:func:`add_memory_arguments`) fills :class:`MemoryOptions`; :func:`plan_budgets` turns them, with what the
machine has, into :class:`Budgets`, the numbers the :class:`~nodes.memory.manager.ModelManager` enforces.
Nothing here imports torch, so building a runtime, ``--help`` and validation stay cheap.

How the modes map to budgets (``D`` is the compute device's memory, ``R`` the reserve):

===============  ==================  =================  ==============  ============================
mode             device budget       weights may use    RAM copy kept   text encoders run on
===============  ==================  =================  ==============  ============================
``gpu_only``     ``D - R``           all of it          no              the compute device; models
                                                                        are moved there when loaded
``highvram``     ``D - R``           all of it          no              the compute device
``normalvram``   ``D - R``           all of it          yes             the compute device
``lowvram``      ``D - R``           half of it         yes             the offload device (CPU)
``novram``       ``D - R``           none: every block  yes             the offload device (CPU)
                                     is streamed
``cpu``          the RAM budget      all of it          (one copy)      the CPU; nothing moves
===============  ==================  =================  ==============  ============================

* ``--reserve-vram GB`` sets ``R``; by default 400 MiB on Linux and macOS, 600 MiB on Windows, 100 MiB
  more on devices of 16 GiB or more (ComfyUI's defaults).
* ``--vram-budget GB`` replaces ``D - R`` outright; ``--ram-budget GB`` replaces the default RAM budget,
  half the machine's RAM minus 2 GiB and at least 4 GiB (InvokeAI's default), never more than the RAM.
* "RAM copy kept" means a model's weights stay in RAM while they are also on the device, so evicting it
  costs no copy back (InvokeAI's ``keep_ram_copy_of_weights``); without it the RAM is given back and an
  eviction copies the weights back first.
* The RAM budget bounds the loaded models kept for reuse (the runtime's model cache): beyond it, the least
  recently used idle ones are forgotten, and their memory is freed once no cached result holds them.  If
  the models still held exceed it, the largest idle ones rest on disk instead (memory-mapped,
  :mod:`nodes.memory.disk`).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

GIB = 1 << 30
MIB = 1 << 20

#: Mode names as stored in :class:`MemoryOptions` (flags use dashes: ``--gpu-only``).
VRAM_MODES = ("gpu_only", "highvram", "normalvram", "lowvram", "novram", "cpu")
#: The fraction of the device budget weights may hold, per mode.
WEIGHT_SHARE = {"gpu_only": 1.0, "highvram": 1.0, "normalvram": 1.0, "lowvram": 0.5, "novram": 0.0, "cpu": 1.0}


@dataclass(frozen=True)
class MemoryOptions:
    """The memory settings a user gives (all optional; see the module docstring).

    Args:
        vram_mode: one of :data:`VRAM_MODES`.
        reserve_vram_gb: device memory left to others (the driver, other programs); None: the default.
        vram_budget_gb: the device budget itself, replacing ``device memory - reserve``.
        ram_budget_gb: the RAM budget for loaded models.
    """

    vram_mode: str = "normalvram"
    reserve_vram_gb: float | None = None
    vram_budget_gb: float | None = None
    ram_budget_gb: float | None = None

    def __post_init__(self) -> None:
        if self.vram_mode not in VRAM_MODES:
            raise ValueError(f"vram_mode must be one of {list(VRAM_MODES)}, not {self.vram_mode!r}")
        for name in ("reserve_vram_gb", "vram_budget_gb", "ram_budget_gb"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be a number of GB >= 0, not {value!r}")


@dataclass(frozen=True)
class Budgets:
    """The numbers the model manager enforces.

    Attributes:
        mode: the mode they were planned for.
        device: bytes the compute device may hold for weights, streamed blocks and working memory.
        weights: of those, bytes weights may keep resident (``lowvram``: half; ``novram``: 0).
        ram: bytes of loaded models kept in RAM for reuse.
        reserve: device bytes left aside (already taken out of ``device``).
        keep_ram_copy: weights stay in RAM while on the device (evicting is free).
        text_encoders_on_offload: CLIP runs on the offload device (``lowvram``, ``novram``).
        eager: models move to the device when registered (``gpu_only``).
    """

    mode: str
    device: int
    weights: int
    ram: int
    reserve: int
    keep_ram_copy: bool = True
    text_encoders_on_offload: bool = False
    eager: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "device_budget": self.device,
            "weights_budget": self.weights,
            "ram_budget": self.ram,
            "reserve": self.reserve,
            "keep_ram_copy": self.keep_ram_copy,
            "text_encoders_on_offload": self.text_encoders_on_offload,
        }


def default_reserve(device_total: int, platform: str = sys.platform) -> int:
    """ComfyUI's default reserve: 400 MiB (600 MiB on Windows), plus 100 MiB on devices of 16 GiB or more."""
    reserve = (600 if platform.startswith("win") else 400) * MIB
    return reserve + (100 * MIB if device_total >= 16 * GIB else 0)


def default_ram_budget(ram_total: int) -> int:
    """Half the RAM minus 2 GiB, at least 4 GiB, at most the RAM itself (InvokeAI's default)."""
    return min(ram_total, max(4 * GIB, ram_total // 2 - 2 * GIB))


def plan_budgets(
    options: MemoryOptions,
    *,
    device_type: str,
    device_total: int,
    ram_total: int,
    platform: str = sys.platform,
) -> Budgets:
    """The :class:`Budgets` for ``options`` on a machine (see the module docstring's table).

    Args:
        options: what the user asked for.
        device_type: the compute device's torch type (``cuda``, ``mps``, ``cpu``, or a test device's name).
        device_total: bytes of memory the compute device offers (its free memory when the manager starts).
        ram_total: bytes of RAM.
        platform: ``sys.platform`` (the default reserve differs on Windows).
    """
    ram = int(options.ram_budget_gb * GIB) if options.ram_budget_gb is not None else default_ram_budget(ram_total)
    mode = "cpu" if device_type == "cpu" else options.vram_mode
    if mode == "cpu":
        device = int(options.vram_budget_gb * GIB) if options.vram_budget_gb is not None else ram
        return Budgets("cpu", device, device, ram, 0, keep_ram_copy=True)
    if options.reserve_vram_gb is not None:
        reserve = int(options.reserve_vram_gb * GIB)
    else:
        reserve = default_reserve(device_total, platform)
    if options.vram_budget_gb is not None:
        device = int(options.vram_budget_gb * GIB)
    else:
        device = max(0, device_total - reserve)
    return Budgets(
        mode,
        device,
        int(device * WEIGHT_SHARE[mode]),
        ram,
        reserve,
        keep_ram_copy=mode not in ("gpu_only", "highvram"),
        text_encoders_on_offload=mode in ("lowvram", "novram"),
        eager=mode == "gpu_only",
    )


# --------------------------------------------------------------------------------------------------
# The command line (the same flags for `run` and `serve`)


def add_memory_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--cpu | --gpu-only | --highvram | --normalvram | --lowvram | --novram`` and the budget flags."""
    group = parser.add_argument_group("memory")
    modes = group.add_mutually_exclusive_group()
    modes.add_argument("--cpu", action="store_true", help="run everything on the CPU")
    helps = {
        "gpu_only": "keep every model (text encoders and VAE too) on the GPU; move them there when loaded",
        "highvram": "keep models on the GPU until another needs the room; no RAM copy",
        "normalvram": "load what fits, evict the least recently used, stream what does not fit (default)",
        "lowvram": "weights use at most half the device budget; text encoders run on the CPU",
        "novram": "stream every block of every model; text encoders run on the CPU",
    }
    for mode, text in helps.items():
        modes.add_argument("--" + mode.replace("_", "-"), dest="vram_mode", action="store_const", const=mode, help=text)
    group.add_argument("--reserve-vram", type=float, default=None, metavar="GB",
                       help="device memory to leave to others (default 0.4, or 0.6 on Windows, +0.1 on >=16 GB cards)")
    group.add_argument("--vram-budget", type=float, default=None, metavar="GB",
                       help="bytes the models may use on the compute device (replaces device memory minus reserve)")
    group.add_argument("--ram-budget", type=float, default=None, metavar="GB",
                       help="RAM for loaded models kept for reuse (default: half the RAM minus 2 GB, at least 4)")


def memory_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`nodes.runtime.Settings` fields for the flags of :func:`add_memory_arguments`."""
    cpu = bool(getattr(args, "cpu", False))
    fields: dict[str, Any] = {
        "vram_mode": "cpu" if cpu else (getattr(args, "vram_mode", None) or "normalvram"),
        "reserve_vram_gb": getattr(args, "reserve_vram", None),
        "vram_budget_gb": getattr(args, "vram_budget", None),
        "ram_budget_gb": getattr(args, "ram_budget", None),
    }
    if cpu:
        fields["device"] = "cpu"
    return fields
