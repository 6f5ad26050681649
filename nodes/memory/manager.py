"""The model manager: which weights are on the compute device, what moves when, and what happens when memory runs out.

See :mod:`nodes.memory` for the policy in prose.  In short: a node computes with models inside
``manager.use(model, working=bytes)`` (or ``manager.run(fn, model, ...)``, which adds the out-of-memory
retry); on entry the manager makes the models resident, fully when they fit after evicting idle models
least recently used first, else partly, streaming the rest block by block; the working memory is
reserved for the block's duration.  Evicting costs no copy when RAM copies are kept.  Weights are moved
only while no patches are applied (the ``on_move`` callbacks restore them first), so the resting copies
always hold the base weights.
"""

from __future__ import annotations

import collections
import gc
import itertools
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from nodes.memory.config import Budgets, MemoryOptions, plan_budgets
from nodes.memory.streaming import Streamer, Unit, split_units

if TYPE_CHECKING:
    import torch

    from nodes.memory.devices import Mover

T = TypeVar("T")
MIB = 1 << 20


def mib(nbytes: float) -> str:
    """``nbytes`` as MiB text for messages."""
    return f"{nbytes / MIB:,.1f} MiB"


class DeviceMemoryError(MemoryError):
    """The compute device cannot hold what an operation needs, even streamed, after freeing idle models.

    Attributes:
        needed: bytes the operation needs at least (resident weights and streamed blocks plus working memory).
        free: bytes of the budget not held by models in use.
        budget: the device budget.
        device: the compute device.
    """

    def __init__(self, message: str, *, needed: int, free: int, budget: int, device: str) -> None:
        super().__init__(message)
        self.needed, self.free, self.budget, self.device = needed, free, budget, device


@dataclass
class MoveStats:
    """Counters since the manager was built (bytes are weights; ``streamed`` is part of ``to_device``)."""

    to_device: int = 0
    to_offload: int = 0
    streamed: int = 0
    loads: int = 0
    evictions: int = 0
    oom_retries: int = 0


class ManagedModel:
    """The manager's record of one model: its modules, units, and where they are.

    Made by :meth:`ModelManager.register`; handles keep it (the manager only holds a weak reference, so a
    model nobody uses any more is freed and disappears from the accounts).
    """

    def __init__(self, manager: ModelManager, modules: tuple[Any, ...], name: str, kind: str, units: list[Unit]) -> None:
        self.manager = manager
        self.modules = modules
        self.name = name
        self.kind = kind
        self.units = units
        self.size = sum(u.nbytes for u in units)
        self.loaded: set[int] = set()
        self.device_bytes = 0
        self.homes: dict[int, list[torch.Tensor]] = {}
        self.locks = 0
        self.last_used = 0
        self.streamer: Streamer | None = None
        self.on_move: list[Callable[[], None]] = []
        #: bytes of resting weights memory-mapped from the disk tier instead of held in RAM.
        self.disk_bytes = 0

    @property
    def state(self) -> str:
        """``offloaded``, ``partial`` (blocks are streamed; maybe all of them) or ``full``."""
        if self.streamer is not None:
            return "partial"
        return "full" if self.loaded else "offloaded"

    @property
    def stream_buffer(self) -> int:
        """Device bytes streaming may add while the model runs (its largest streamed unit)."""
        return self.streamer.largest if self.streamer is not None else 0

    @property
    def on_offload_device(self) -> bool:
        """Runs where it rests (text encoders in ``lowvram``/``novram``; everything with ``--cpu``)."""
        return self.manager.runs_on_offload(self.kind)

    @property
    def device(self) -> torch.device:
        """Where inputs of this model go."""
        mover = self.manager.mover
        return mover.offload_device if self.on_offload_device else mover.compute_device

    def add_on_move(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` before any of this model's weights move (a patch state's ``restore``)."""
        self.on_move.append(callback)

    def use(self, working: int = 0) -> Any:
        """``manager.use(self, working=working)``."""
        return self.manager.use(self, working=working)

    def __repr__(self) -> str:
        return f"ManagedModel({self.name!r}, {self.kind}, {mib(self.size)}, {self.state})"


class ModelManager:
    """Budgets, residency, eviction, streaming and out-of-memory recovery for one application.

    Args:
        options: the user's memory settings (mode, reserve, budgets).
        device: the compute device setting (``auto``, ``cpu``, ``cuda:1`` ...).
        mover: inject how tensors move (tests: :class:`~nodes.memory.devices.SimulatedDevice`); by default
            ``Tensor.to`` between the compute device and the CPU.
        budgets: inject the budgets; by default :func:`~nodes.memory.config.plan_budgets` on this machine.
        max_units: a model is cut into units of about ``size / max_units`` bytes for streaming.
        disk_dir: where the largest idle models' resting weights go when RAM copies exceed the RAM budget
            (:mod:`nodes.memory.disk`); None keeps everything in RAM.

    The device is looked up on first use, so building a manager imports no torch.
    """

    def __init__(
        self,
        options: MemoryOptions | None = None,
        *,
        device: str = "auto",
        mover: Mover | None = None,
        budgets: Budgets | None = None,
        max_units: int = 32,
        disk_dir: str | None = None,
    ) -> None:
        self.options = options or MemoryOptions()
        self.disk_dir = disk_dir
        self._device_setting = device
        self._mover = mover
        self._budgets = budgets
        self.max_units = max_units
        self.stats = MoveStats()
        #: ``(event, model name)`` for loads, partial loads and evictions, most recent last.
        self.events: collections.deque[tuple[str, str]] = collections.deque(maxlen=4096)
        self.peak = 0
        self._lock = threading.RLock()
        self._models: dict[int, weakref.ref[ManagedModel]] = {}
        self._clock = itertools.count(1)
        self._working = 0
        self._in_flight = 0
        self._caches: list[Callable[[], None]] = []
        self._upcoming: list[frozenset[str]] = []

    # -- devices and budgets ---------------------------------------------------------------------------
    @property
    def mover(self) -> Mover:
        if self._mover is None:
            from nodes.memory.devices import TorchMover, resolve_device

            cpu = self.options.vram_mode == "cpu"
            self._mover = TorchMover(resolve_device("cpu" if cpu else self._device_setting), "cpu")
        return self._mover

    @property
    def budgets(self) -> Budgets:
        if self._budgets is None:
            from nodes.memory.devices import device_memory, ram_total

            mover = self.mover
            if not mover.moves:
                kind, total = "cpu", ram_total()
            elif mover.compute_device.type in ("cuda", "mps"):
                kind, total = mover.compute_device.type, device_memory(mover.compute_device)
            else:  # a simulated device: RAM stands in for its memory
                kind, total = "simulated", ram_total()
            self._budgets = plan_budgets(self.options, device_type=kind, device_total=total, ram_total=ram_total())
        return self._budgets

    @property
    def compute_device(self) -> torch.device:
        return self.mover.compute_device

    @property
    def offload_device(self) -> torch.device:
        return self.mover.offload_device

    def runs_on_offload(self, kind: str) -> bool:
        """Whether models of ``kind`` compute where they rest (text encoders in ``lowvram``/``novram``;
        everything when nothing moves)."""
        return not self.mover.moves or (kind == "clip" and self.budgets.text_encoders_on_offload)

    # -- models ----------------------------------------------------------------------------------------
    def register(
        self, modules: Sequence[Any], *, name: str, kind: str = "model", on_move: Sequence[Callable[[], None]] = ()
    ) -> ManagedModel:
        """Start managing ``modules`` (resting on the offload device) as one model; sizes are measured now.

        Registering the same modules again returns the same record: the weights are shared.

        Args:
            modules: the modules that load and run together (a UNet; both text encoders of SDXL).
            name: shown in status reports (``sd15.safetensors:unet``).
            kind: ``unet``, ``clip``, ``vae`` or ``model``.
            on_move: called before weights move (see :meth:`ManagedModel.add_on_move`).
        """
        modules = tuple(modules)
        with self._lock:
            for entry in self.models():
                if len(entry.modules) == len(modules) and all(a is b for a, b in zip(entry.modules, modules)):
                    entry.on_move.extend(on_move)
                    return entry
            total = sum(t.nbytes for m in modules for t in (*m.parameters(), *m.buffers()))
            entry = ManagedModel(self, modules, name, kind, split_units(modules, max(1, total // self.max_units)))
            entry.on_move.extend(on_move)
            key = id(entry)

            def forget(ref: weakref.ref[ManagedModel], key: int = key) -> None:
                if self._models.get(key) is ref:
                    del self._models[key]

            self._models[key] = weakref.ref(entry, forget)
            if self.budgets.eager and self.mover.moves and not entry.on_offload_device:
                try:
                    self._make_resident(entry, None)
                except (DeviceMemoryError, RuntimeError):  # stays offloaded; loaded at first use
                    pass
        return entry

    def models(self) -> list[ManagedModel]:
        """The live records, most recently used first."""
        live = [entry for ref in list(self._models.values()) if (entry := ref()) is not None]
        return sorted(live, key=lambda e: -e.last_used)

    # -- residency -------------------------------------------------------------------------------------
    @contextmanager
    def use(self, *models: ManagedModel, working: int = 0, cap: int | None = None) -> Iterator[None]:
        """Make ``models`` resident and reserve ``working`` bytes for the block; nothing they use is evicted.

        Args:
            models: the models the block computes with.
            working: bytes of working memory the block needs on the compute device.
            cap: at most this many bytes of each model's weights resident (the out-of-memory retry).

        Raises:
            DeviceMemoryError: even streamed, the models and the working memory do not fit the budget.
        """
        if models and self.mover.moves and all(m.on_offload_device for m in models):
            working = 0  # it computes where it rests: no device memory to reserve
        with self._lock:
            fresh = [m for m in models if m.locks == 0]
            for model in models:
                model.locks += 1
                model.last_used = next(self._clock)
            self._working += working
            try:
                self._spill_if_needed()
                for model in fresh:
                    self._make_resident(model, cap)
                self._note_peak()
            except BaseException:
                self._release(models, working)
                raise
        try:
            yield
        finally:
            with self._lock:
                self._release(models, working)

    def ram_bytes(self) -> int:
        """Bytes of loaded models' weights held in RAM (resting copies, not counting the disk tier)."""
        dropped = self.mover.moves and not self.budgets.keep_ram_copy
        return sum(e.size - e.disk_bytes - (e.device_bytes if dropped else 0) for e in self.models())

    def _spill_if_needed(self) -> None:
        """Over the RAM budget: move the largest idle models' resting weights to the disk tier."""
        if self.disk_dir is None:
            return
        from nodes.memory.disk import spill_to_disk

        while self.ram_bytes() > self.budgets.ram:
            idle = [e for e in self.models() if e.locks == 0 and e.disk_bytes < e.size]
            if not idle:
                return
            model = max(idle, key=lambda e: e.size - e.disk_bytes)
            for restore in model.on_move:  # resting copies must be the base weights
                restore()
            spilled = spill_to_disk(model, self.disk_dir, moves=self.mover.moves)
            model.disk_bytes = model.size if spilled == 0 else model.disk_bytes + spilled
            self.events.append(("disk", model.name))

    def _release(self, models: Sequence[ManagedModel], working: int) -> None:
        for model in models:
            model.locks -= 1
        self._working -= working

    def _make_resident(self, model: ManagedModel, cap: int | None) -> None:
        if model.on_offload_device and self.mover.moves:
            return
        while not self._fits(model, cap) and (victim := self._lru_victim()) is not None:
            self._evict(victim)
        if not self.mover.moves:  # --cpu: accounting only
            if not model.loaded:
                model.loaded, model.device_bytes = set(range(len(model.units))), model.size
                self.stats.loads += 1
                self.events.append(("load", model.name))
            return
        target = self._plan(model, cap)
        self._apply(model, target, streaming=len(target) < len(model.units))

    def _available(self, model: ManagedModel) -> tuple[int, int]:
        """(device bytes, weight bytes) that ``model`` may take, given the other models and working memory."""
        others = [e for e in self.models() if e is not model]
        held = sum(e.device_bytes + (e.stream_buffer if e.locks else 0) for e in others)
        weights = sum(e.device_bytes for e in others)
        return self.budgets.device - self._working - held, self.budgets.weights - weights

    def _fits(self, model: ManagedModel, cap: int | None) -> bool:
        device, weights = self._available(model)
        return model.size <= min(device, weights, model.size if cap is None else cap)

    def _lru_victim(self) -> ManagedModel | None:
        """The idle model to evict: one no upcoming job expects, least recently used first; else the one
        expected farthest ahead (Belady's rule within the look-ahead of :meth:`expect`)."""
        idle = [e for e in self.models() if e.locks == 0 and (e.loaded or e.streamer is not None)]
        return min(idle, key=lambda e: (-self._next_use(e), e.last_used), default=None)

    def _next_use(self, model: ManagedModel) -> int:
        source = model.name.split(":", 1)[0]
        return next((i for i, names in enumerate(self._upcoming) if source in names), len(self._upcoming))

    def expect(self, upcoming: Sequence[Iterable[str]]) -> None:
        """Say which models the next jobs will use, soonest first: one collection of strings per job.

        A job expects a model when one of its strings, or its last path component, is the model's source
        (its name up to ``:``, the file or folder it was loaded from).  Eviction then prefers models no
        upcoming job expects; with no hints (the default) it is plain LRU.  The server passes the literal
        inputs of the next queued prompts before each job (:meth:`expect_prompts`).
        """
        def names(job: Iterable[str]) -> frozenset[str]:
            strings = [s for s in job if isinstance(s, str)]
            return frozenset([*strings, *(s.replace("\\", "/").rsplit("/", 1)[-1] for s in strings)])

        with self._lock:
            self._upcoming = [names(job) for job in upcoming]

    def expect_prompts(self, prompts: Sequence[Mapping[str, Any]]) -> None:
        """:meth:`expect` with the string inputs of API-format prompts (loader inputs name model files)."""
        self.expect([
            [value for node in prompt.values() if isinstance(node, Mapping)
             for value in (node.get("inputs") or {}).values() if isinstance(value, str)]
            for prompt in prompts
        ])

    def _plan(self, model: ManagedModel, cap: int | None) -> set[int]:
        """The units to keep resident: all when they fit, else pinned units plus the largest that fit."""
        device, weights = self._available(model)
        everything = set(range(len(model.units)))
        if model.size <= min(device, weights, model.size if cap is None else cap):
            return everything
        pinned = {i for i, u in enumerate(model.units) if not u.streamable}
        pinned_bytes = sum(model.units[i].nbytes for i in pinned)
        streamable = sorted(everything - pinned, key=lambda i: (-model.units[i].nbytes, i))
        buffer = model.units[streamable[0]].nbytes if streamable else 0
        if not streamable or pinned_bytes + buffer > device:
            need = (pinned_bytes + buffer) if streamable else model.size
            raise DeviceMemoryError(
                f"{model.name} needs at least {mib(need)} on {self.mover.label} to run "
                f"{'streamed block by block' if streamable else '(it cannot be streamed)'}, plus {mib(self._working)} "
                f"of working memory, but only {mib(device + self._working)} of the {mib(self.budgets.device)} "
                f"budget are not held by models in use",
                needed=need + self._working, free=device + self._working, budget=self.budgets.device,
                device=self.mover.label,
            )
        room = min(device - buffer, max(0, weights - pinned_bytes) + pinned_bytes, cap if cap is not None else device)
        room -= pinned_bytes
        chosen = set(pinned)
        for index in streamable:
            if model.units[index].nbytes <= room:
                chosen.add(index)
                room -= model.units[index].nbytes
        return chosen

    def _apply(self, model: ManagedModel, target: set[int], streaming: bool) -> None:
        """Move units so that exactly ``target`` is resident; stream the others when ``streaming``."""
        if target == model.loaded and (model.streamer is not None) == streaming:
            return
        for restore in model.on_move:  # patches off: resting copies stay base weights
            restore()
        if model.streamer is not None:
            model.streamer.detach()
            model.streamer = None
        for index in sorted(model.loaded - target):
            self._offload_unit(model, index)
        for index in sorted(target - model.loaded):
            self._load_unit(model, index)
        if streaming:
            streamed = [u for i, u in enumerate(model.units) if i not in target]
            model.streamer = Streamer(streamed, self.mover, self._stream_in, self._stream_out)
            model.streamer.attach()
        if target or streaming:
            self.stats.loads += 1
            self.events.append(("partial" if streaming else "load", model.name))

    def _load_unit(self, model: ManagedModel, index: int) -> None:
        unit = model.units[index]
        resting: list[torch.Tensor] = []
        try:
            for slot in unit.slots:
                tensor = slot.get()
                slot.set(self.mover.to_compute(tensor))
                resting.append(tensor)
        except BaseException:
            for slot, tensor in zip(unit.slots, resting):
                slot.set(tensor)
            raise
        if self.budgets.keep_ram_copy:
            model.homes[index] = resting
        model.loaded.add(index)
        model.device_bytes += unit.nbytes
        self.stats.to_device += unit.nbytes

    def _offload_unit(self, model: ManagedModel, index: int) -> None:
        unit = model.units[index]
        resting = model.homes.pop(index, None)
        for k, slot in enumerate(unit.slots):
            slot.set(resting[k] if resting is not None else self.mover.to_offload(slot.get()))
        if resting is None:
            self.stats.to_offload += unit.nbytes
        model.loaded.discard(index)
        model.device_bytes -= unit.nbytes

    def _evict(self, model: ManagedModel) -> None:
        if self.mover.moves:
            self._apply(model, set(), streaming=False)
        else:
            model.loaded, model.device_bytes = set(), 0
        self.stats.evictions += 1
        self.events.append(("evict", model.name))

    def _stream_in(self, nbytes: int) -> None:
        self._in_flight += nbytes
        self.stats.to_device += nbytes
        self.stats.streamed += nbytes
        self._note_peak()

    def _stream_out(self, nbytes: int) -> None:
        self._in_flight -= nbytes

    def device_bytes(self) -> int:
        """Bytes on the compute device now: resident weights, streamed blocks in flight, reserved working memory."""
        return sum(e.device_bytes for e in self.models()) + self._in_flight + self._working

    def _note_peak(self) -> None:
        self.peak = max(self.peak, self.device_bytes())

    # -- out of memory -------------------------------------------------------------------------------
    def run(
        self,
        fn: Callable[[int], T],
        *models: ManagedModel,
        working: int | Callable[[int], int] = 0,
        what: str = "the operation",
        retry: str = "weights at most half resident",
    ) -> T:
        """``fn(attempt)`` inside :meth:`use`, retried once with a smaller footprint on out-of-memory.

        Attempt 0 runs as :meth:`use` decides.  If it runs out of device memory (torch's error, or
        :class:`DeviceMemoryError` from the residency plan), idle models are unloaded and attempt 1 runs
        with each model's resident weights capped at half of what they were (streaming the rest) and
        ``working(1)`` bytes reserved; ``fn`` sees the attempt number and may shrink its own footprint
        (the VAE decodes in tiles).

        Raises:
            DeviceMemoryError: attempt 1 ran out of memory too; the message says what was needed and free.
        """
        from nodes.memory.devices import empty_cache, is_out_of_memory

        cap: int | None = None
        for attempt in (0, 1):
            need = working(attempt) if callable(working) else working
            try:
                with self.use(*models, working=need, cap=cap):
                    return fn(attempt)
            except Exception as exc:
                if not (isinstance(exc, DeviceMemoryError) or is_out_of_memory(exc)):
                    raise
                if attempt == 1:
                    raise self._out_of_memory(what, models, need, retry) from exc
                self.stats.oom_retries += 1
                cap = max(1, max((m.device_bytes or m.size) for m in models) // 2)
                self.unload_all()
                empty_cache(self.compute_device)
        raise AssertionError("unreachable")

    def _out_of_memory(self, what: str, models: Sequence[ManagedModel], working: int, retry: str) -> DeviceMemoryError:
        with self._lock:
            minimum = sum(
                sum(u.nbytes for u in m.units if not u.streamable) + max((u.nbytes for u in m.units if u.streamable), default=0)
                for m in models
            )
            held = sum(e.device_bytes for e in self.models() if e.locks and e not in models)
        budget = self.budgets.device
        needed, free = minimum + working, budget - held
        return DeviceMemoryError(
            f"{what} ran out of memory on {self.mover.label}: it needs at least {mib(needed)} "
            f"({mib(minimum)} of weights resident or streamed, {mib(working)} of working memory); "
            f"{mib(free)} of the {mib(budget)} budget were free with idle models unloaded, and a retry with a "
            f"smaller footprint ({retry}) failed too. Lower the resolution or batch size, or use --lowvram / "
            f"--novram, or raise --vram-budget.",
            needed=needed, free=free, budget=budget, device=self.mover.label,
        )

    # -- giving memory back ------------------------------------------------------------------------------
    def unload_all(self) -> int:
        """Offload every model not in use; returns the device bytes given back."""
        with self._lock:
            before = sum(e.device_bytes for e in self.models())
            for entry in self.models():
                if entry.locks == 0 and (entry.loaded or entry.streamer is not None):
                    self._evict(entry)
            freed = before - sum(e.device_bytes for e in self.models())
        if self._mover is not None:
            from nodes.memory.devices import empty_cache

            empty_cache(self.compute_device)
        return freed

    def add_cache(self, clear: Callable[[], None]) -> None:
        """Register a cache of loaded models that :meth:`drop_cached` empties."""
        self._caches.append(clear)

    def drop_cached(self) -> None:
        """Unload idle models and forget loaded models kept for reuse (their RAM is freed once no result holds them)."""
        self.unload_all()
        for clear in self._caches:
            clear()
        gc.collect()

    # -- status ----------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """What is loaded where, bytes used, budgets and move counters (JSON-ready).

        Before any model was loaded and while torch is not imported, only the settings are reported
        (finding the device would import torch).
        """
        if self._budgets is None and "torch" not in sys.modules:
            return {"mode": self.options.vram_mode, "device": self._device_setting, "models": [],
                    "note": "devices are looked up when the first model loads"}
        with self._lock:
            budgets, mover, live = self.budgets, self.mover, self.models()
            return {
                "mode": budgets.mode,
                "compute_device": mover.label,
                "offload_device": str(mover.offload_device),
                "budgets": budgets.to_dict(),
                "device_bytes": sum(e.device_bytes for e in live),
                "streaming_bytes": self._in_flight,
                "working_bytes": self._working,
                "ram_bytes": self.ram_bytes(),
                "disk_bytes": sum(e.disk_bytes for e in live),
                "peak_device_bytes": self.peak,
                "moves": asdict(self.stats),
                "models": [
                    {"name": e.name, "kind": e.kind, "size": e.size, "device_bytes": e.device_bytes,
                     "disk_bytes": e.disk_bytes,
                     "state": "on " + str(mover.offload_device) if e.on_offload_device and mover.moves else e.state,
                     "in_use": e.locks > 0}
                    for e in live
                ],
            }


def format_status(status: dict[str, Any]) -> str:
    """:meth:`ModelManager.status` as lines of text for the command line."""
    if "budgets" not in status:
        return f"memory: mode {status['mode']}, no model loaded"
    b = status["budgets"]
    lines = [
        f"memory: mode {status['mode']}, compute {status['compute_device']}, offload {status['offload_device']}",
        f"  device: {mib(status['device_bytes'])} of weights resident, peak {mib(status['peak_device_bytes'])} "
        f"of a {mib(b['device_budget'])} budget (reserve {mib(b['reserve'])})",
        f"  RAM: {mib(status['ram_bytes'])} of loaded models, budget {mib(b['ram_budget'])}; "
        f"{mib(status['disk_bytes'])} mapped from disk",
        f"  moved: {mib(status['moves']['to_device'])} to the device ({mib(status['moves']['streamed'])} streamed), "
        f"{mib(status['moves']['to_offload'])} back; {status['moves']['evictions']} eviction(s)",
    ]
    for model in status["models"]:
        lines.append(f"  {model['name']:<40} {model['kind']:<5} {mib(model['size']):>14}  {model['state']}"
                     f" ({mib(model['device_bytes'])} on device)")
    return "\n".join(lines)
