"""Assembling latentloom: settings in, a ready engine out.

The CLI and the server both call :func:`build_runtime` with a :class:`Settings` value; it builds the folders,
the registry (built-in packs, custom_nodes folders, entry points), the cache policy and the engine, and
returns them in a :class:`Runtime`. The runtime is also what nodes receive as their services
(``graph.context.runtime()``): the folders to read and write, the settings, and the model manager
(``runtime.models``, :mod:`nodes.memory`).
Nothing here is global; two runtimes in one process do not see each other.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.cache import Cache, make_cache
from graph.engine import Engine
from graph.events import Event
from nodes.paths import Folders


@dataclass(frozen=True)
class Settings:
    """Everything a command line can set. Values round-trip to JSON (``dataclasses.asdict``).

    Args:
        base_dir: holds models/, custom_nodes/, input/, output/, temp/ and user/.
        custom_nodes: extra custom_nodes folders, searched after ``<base>/custom_nodes``.
        cache: ``last`` (ComfyUI's classic), ``lru``, ``ram`` or ``none``.
        cache_lru: entries kept by the ``lru`` policy. cache_ram_gb: free-RAM threshold of ``ram``.
        disk_cache: keep serialisable results on disk under ``<user>/cache`` across restarts.
        entry_points: load node packs installed as Python packages (entry-point group latentloom.nodes).
    """

    base_dir: str = "."
    output_dir: str | None = None
    input_dir: str | None = None
    temp_dir: str | None = None
    user_dir: str | None = None
    custom_nodes: tuple[str, ...] = ()
    disable_custom_nodes: bool = False
    entry_points: bool = True
    cache: str = "last"
    cache_lru: int = 64
    cache_ram_gb: float = 4.0
    disk_cache: bool = False
    disk_cache_gb: float = 4.0
    preview_method: str = "none"
    #: Compute device: ``auto`` (CUDA, then MPS, then CPU), or a torch device string such as ``cpu``.
    device: str = "auto"
    #: Compute precision: ``auto`` (fp32 on CPU, fp16 on GPUs), ``fp32``, ``bf16`` or ``fp16``.
    precision: str = "auto"
    extra_model_paths: tuple[str, ...] = ()
    #: Memory mode: ``normalvram`` (default), ``gpu_only``, ``highvram``, ``lowvram``, ``novram`` or ``cpu``
    #: (see :mod:`nodes.memory.config` for what each means in bytes).
    vram_mode: str = "normalvram"
    #: Device memory left to others, in GB (None: ComfyUI's default, 0.4 to 0.7).
    reserve_vram_gb: float | None = None
    #: Device budget in GB, replacing device memory minus the reserve.
    vram_budget_gb: float | None = None
    #: RAM budget in GB for loaded models kept for reuse (None: half the RAM minus 2, at least 4).
    ram_budget_gb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Runtime:
    """The assembled application: what the CLI and the server drive, and what nodes see."""

    settings: Settings
    folders: Folders
    registry: Any
    load_report: Any
    engine: Engine
    services: dict[str, Any] = field(default_factory=dict)

    @property
    def models(self) -> Any:
        """The :class:`nodes.memory.ModelManager` (``services["models"]``)."""
        return self.services.get("models")


def build_runtime(settings: Settings, hooks: Callable[[Event], None] | None = None) -> Runtime:
    """Build folders, registry, cache and engine from ``settings``."""
    from nodes.registry import default_registry

    model_dirs, node_dirs_extra = _extra_paths(settings)
    folders = Folders.at(
        settings.base_dir,
        output=settings.output_dir,
        input=settings.input_dir,
        temp=settings.temp_dir,
        user=settings.user_dir,
        custom_nodes=(*settings.custom_nodes, *node_dirs_extra),
        extra_model_dirs=model_dirs,
    )
    node_dirs: Sequence[Path] = () if settings.disable_custom_nodes else folders.custom_nodes
    registry, report = default_registry(custom_node_dirs=node_dirs, entry_points=settings.entry_points)
    runtime = Runtime(settings, folders, registry, report, Engine(registry), {"models": model_manager(settings, folders)})
    runtime.engine = Engine(registry, _cache(settings, folders), hooks, runtime)
    return runtime


def model_manager(settings: Settings, folders: Folders) -> Any:
    """The :class:`nodes.memory.ModelManager` for ``settings`` (it looks for the device on first use: no torch
    here); weights that do not fit the RAM budget are memory-mapped from ``<temp>/offload``."""
    from nodes.memory.config import MemoryOptions
    from nodes.memory.manager import ModelManager

    options = MemoryOptions(settings.vram_mode, settings.reserve_vram_gb, settings.vram_budget_gb, settings.ram_budget_gb)
    device = "cpu" if settings.vram_mode == "cpu" else settings.device
    return ModelManager(options, device=device, disk_dir=os.fspath(folders.temp / "offload"))


def _extra_paths(settings: Settings) -> tuple[dict[str, list[Path]], list[Path]]:
    """Model and custom_nodes folders from every extra_model_paths.yaml (the base dir's own one first)."""
    from nodes.paths import load_extra_model_paths

    files = [Path(settings.base_dir) / "extra_model_paths.yaml", *map(Path, settings.extra_model_paths)]
    model_dirs: dict[str, list[Path]] = {}
    node_dirs: list[Path] = []
    for path in files:
        if path.is_file() or path in map(Path, settings.extra_model_paths):
            kinds, more_nodes = load_extra_model_paths(path)
            for kind, dirs in kinds.items():
                model_dirs.setdefault(kind, []).extend(dirs)
            node_dirs.extend(more_nodes)
    return model_dirs, node_dirs


def _cache(settings: Settings, folders: Folders) -> Cache:
    disk_dir = None
    codec = None
    if settings.disk_cache:
        from nodes.codec import TensorCodec

        disk_dir = os.fspath(folders.user / "cache")
        codec = TensorCodec()
    return make_cache(settings.cache, lru_size=settings.cache_lru, ram_free_gb=settings.cache_ram_gb, disk_dir=disk_dir, disk_max_gb=settings.disk_cache_gb, codec=codec)
