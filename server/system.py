"""``/system_stats``: the machine, the Python, the compute device, and the model manager's status.

torch is imported only when it can matter: if it is already loaded (a node pack or the model manager
imported it), or when the machine has a GPU driver (NVIDIA or AMD device files) and the server was not
started with ``--cpu``. On a CPU-only machine the server therefore answers without paying torch's import
(over a second and 200 MiB), and the device entry describes the CPU with the host's memory.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

LATENTLOOM_VERSION = "0.1.0"
#: The ComfyUI version whose interfaces the server reproduces (clients compare it).
COMFYUI_VERSION = "0.8.0"


def memory() -> tuple[int, int]:
    """(total, available) RAM in bytes."""
    try:
        import psutil

        vm = psutil.virtual_memory()
        return int(vm.total), int(vm.available)
    except ImportError:
        pages, free = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_AVPHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
        return pages * size, free * size


def _gpu_driver_present() -> bool:
    return (os.path.exists("/proc/driver/nvidia/gpus") or os.path.exists("/dev/nvidia0")
            or os.path.exists("/dev/kfd") or sys.platform == "darwin")


def _torch_version() -> str | None:
    torch = sys.modules.get("torch")
    if torch is not None:
        return str(torch.__version__)
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def devices(force_cpu: bool) -> list[dict[str, Any]]:
    """One device entry, in ComfyUI's shape."""
    total, free = memory()
    cpu = {"name": "cpu", "type": "cpu", "index": None, "vram_total": total, "vram_free": free,
           "torch_vram_total": total, "torch_vram_free": free}
    if force_cpu or ("torch" not in sys.modules and not _gpu_driver_present()):
        return [cpu]
    import torch  # a GPU may be there: ask

    if torch.cuda.is_available():
        index = torch.cuda.current_device()
        free_b, total_b = torch.cuda.mem_get_info(index)
        stats = torch.cuda.memory_stats(index)
        reserved = int(stats.get("reserved_bytes.all.current", 0))
        active = int(stats.get("active_bytes.all.current", 0))
        return [{"name": f"cuda:{index} {torch.cuda.get_device_name(index)}", "type": "cuda", "index": index,
                 "vram_total": int(total_b), "vram_free": int(free_b) + reserved - active,
                 "torch_vram_total": reserved, "torch_vram_free": reserved - active}]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return [{**cpu, "name": "mps", "type": "mps"}]
    return [cpu]


def system_stats(argv: list[str], force_cpu: bool = False, models: Any = None) -> dict[str, Any]:
    """The ``/system_stats`` document (comfyui-reference 1.7), plus ``latentloom_version`` and, given the
    model manager, ``memory``: its mode, budgets, bytes on the device and in RAM, moves, and every loaded
    model with where it is (:meth:`nodes.memory.ModelManager.status`; ComfyUI clients ignore the key)."""
    total, free = memory()
    doc = {
        "system": {
            "os": sys.platform,
            "ram_total": total,
            "ram_free": free,
            "comfyui_version": COMFYUI_VERSION,
            "latentloom_version": LATENTLOOM_VERSION,
            "python_version": sys.version,
            "pytorch_version": _torch_version(),
            "embedded_python": False,
            "argv": argv,
            "machine": platform.machine(),
        },
        "devices": devices(force_cpu),
    }
    if models is not None:
        doc["memory"] = models.status()
    return doc
