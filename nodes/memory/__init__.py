"""Model memory: budgets, residency, eviction, streaming, and memory given back.

Models are gigabytes and devices are not.  One :class:`~nodes.memory.manager.ModelManager` per
application (built by :func:`nodes.runtime.build_runtime`, kept in ``runtime.services["models"]``; no
module state) decides where weights are.  Loaders register each loaded component with it and the handles
on MODEL, CLIP and VAE ports carry the record, so nodes only call ``handle.run(...)`` / ``handle.use()``.

The policy
----------
1. **Accounting.** A model's size is the sum of its tensors' bytes, measured when it is registered.
   The device budget (:mod:`nodes.memory.config`: device memory minus a reserve, or ``--vram-budget``)
   covers resident weights, streamed blocks in flight and the working memory heavy operations reserve
   (:mod:`nodes.memory.estimates`).  Weights rest on the offload device (CPU RAM).
2. **Residency on use.** ``with manager.use(model, working=bytes):`` locks the model (nothing it holds is
   evicted), then: if it fits next to the models in use and the working memory, it loads fully; if not,
   idle models are evicted, least recently used first, until it fits; if it still does not fit, it is
   loaded partly: the largest blocks that fit stay resident and the others are streamed block by block
   (:mod:`nodes.memory.streaming`), so a model larger than the budget still runs.  A model stays resident
   after the block until another needs the room.  When told which models the next queued jobs load
   (``expect``; the server's worker does it before each job), eviction spares those first and takes the
   one needed farthest ahead (Belady's rule within the look-ahead; ``benchmarks/memory.py``).
3. **Moves are cheap one way.** With RAM copies kept (the default modes) loading copies weights to the
   device and evicting just points them back at the RAM copy; ``--highvram``/``--gpu-only`` give the RAM
   back instead and copy back on eviction.  Weights never move while patches (LoRA) are applied: the
   manager asks the patch state to restore first, so resting copies are always the base weights.
4. **Out of memory.** :meth:`~nodes.memory.manager.ModelManager.run` catches the device's out-of-memory
   error: it unloads idle models, retries once with a smaller footprint (half the weights resident, tiled
   VAE), then fails with :class:`~nodes.memory.manager.DeviceMemoryError` saying what was needed and free.
   The executor only sees a failed node; the policy lives here (style trap 12).
5. **Giving back.** ``unload_all()`` offloads every idle model; ``drop_cached()`` also forgets the loaded
   models kept for reuse (``POST /free`` with ``free_memory``).  The manager holds models weakly: a model
   no handle refers to is freed and leaves the accounts.  RAM has a budget too: the model cache forgets
   the least recently used loaded models beyond it, and when the models still held exceed it, the largest
   idle ones rest on disk, memory-mapped (:mod:`nodes.memory.disk`).
6. **CPU.** When the compute device is where weights rest (``--cpu``, or no accelerator), nothing moves;
   the budgets are still kept as accounts and reported.

Modules: :mod:`~nodes.memory.config` (modes, budgets, flags; no torch), :mod:`~nodes.memory.devices`
(movers, device memory, out-of-memory detection), :mod:`~nodes.memory.streaming`,
:mod:`~nodes.memory.estimates` (working memory formulas), :mod:`~nodes.memory.disk` (the disk tier),
:mod:`~nodes.memory.manager`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Budgets": "config",
    "MemoryOptions": "config",
    "VRAM_MODES": "config",
    "plan_budgets": "config",
    "add_memory_arguments": "config",
    "memory_settings": "config",
    "DeviceMemoryError": "manager",
    "ManagedModel": "manager",
    "ModelManager": "manager",
    "format_status": "manager",
    "MoveSpy": "devices",
    "SimulatedDevice": "devices",
    "TorchMover": "devices",
}
__all__ = sorted(_EXPORTS) + ["SERVICE_KEY", "model_manager"]

#: Where :func:`nodes.runtime.build_runtime` keeps the manager in ``runtime.services``.
SERVICE_KEY = "models"

if TYPE_CHECKING:
    from nodes.memory.config import VRAM_MODES, Budgets, MemoryOptions, add_memory_arguments, memory_settings, plan_budgets
    from nodes.memory.devices import MoveSpy, SimulatedDevice, TorchMover
    from nodes.memory.manager import DeviceMemoryError, ManagedModel, ModelManager, format_status


def model_manager(services: Any = None) -> Any:
    """The model manager of ``services`` (default: the running node's runtime), or None without one."""
    if services is None:
        from graph.context import runtime

        services = runtime()
    store = getattr(services, "services", None)
    return store.get(SERVICE_KEY) if isinstance(store, dict) else None


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'nodes.memory' has no attribute {name!r}")
    return getattr(importlib.import_module(f"nodes.memory.{_EXPORTS[name]}"), name)


def __dir__() -> list[str]:
    return __all__
