"""The runtime's cache of loaded models, so that one file loaded twice shares its weights.

Loader nodes ask :func:`model_cache` for the cache of the running application (one per
:class:`~nodes.runtime.Runtime`, kept in ``runtime.services``); it maps a key made of what was read
(kind, resolved path, modification time and size) and how it was placed (device, dtypes) to the loaded
handles.  With the runtime's model manager, entries are kept while their weights fit the manager's RAM
budget (``--ram-budget``), least recently used dropped first, and ``manager.drop_cached()`` (``/free``)
empties the cache; without one, the most recently used :data:`KEEP` entries are kept.  A dropped entry's
weights live as long as some handle (a cached node result) still uses them.  A changed file has a new
key, so it is read again.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

#: Entries kept per runtime.
KEEP = 2
SERVICE_KEY = "latentloom.model_cache"


def handle_bytes(value: Any) -> int:
    """Bytes of the managed weights of a loaded value (a ``Loaded`` triple or one handle)."""
    handles = [value] if hasattr(value, "memory") else [getattr(value, n, None) for n in ("model", "clip", "vae")]
    return sum(h.memory.size for h in handles if getattr(h, "memory", None) is not None)


class ModelCache:
    """A small thread-safe LRU of loaded models (see the module docstring).

    Args:
        keep: at most this many entries (None: no count limit).
        budget: returns the byte budget for the entries' weights (None: no byte limit); the newest entry
            is always kept.
        weigh: bytes of one entry's weights.
    """

    def __init__(
        self,
        keep: int | None = KEEP,
        budget: Callable[[], int] | None = None,
        weigh: Callable[[Any], int] = handle_bytes,
    ) -> None:
        self.keep = keep
        self.budget = budget
        self.weigh = weigh
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        #: loads performed (misses), for diagnostics and tests.
        self.loads = 0

    def get_or_load(self, key: Hashable, load: Callable[[], T]) -> T:
        """The cached value for ``key``, or ``load()`` stored under it.

        Loading happens under the lock, so two nodes asking for the same file at once read it once.
        """
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]  # type: ignore[no-any-return]
            value = load()
            self.loads += 1
            self._entries[key] = value
            self._trim()
            return value

    def _trim(self) -> None:
        while len(self._entries) > 1 and (
            (self.keep is not None and len(self._entries) > self.keep)
            or (self.budget is not None and sum(map(self.weigh, self._entries.values())) > self.budget())
        ):
            self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def model_cache(services: Any = None) -> ModelCache:
    """The cache of ``services`` (default: the running node's runtime); a throwaway one without a runtime.

    Made on first use; with the runtime's model manager it is bounded by the manager's RAM budget and
    registered with it, so ``manager.drop_cached()`` empties it.
    """
    if services is None:
        from graph.context import runtime

        services = runtime()
    store = getattr(services, "services", None)
    if not isinstance(store, dict):
        return ModelCache()
    cache = store.get(SERVICE_KEY)
    if cache is None:
        manager = store.get("models")
        fresh = ModelCache() if manager is None else ModelCache(keep=None, budget=lambda: int(manager.budgets.ram))
        cache = store.setdefault(SERVICE_KEY, fresh)  # atomic: one cache even when two threads race
        if cache is fresh and manager is not None:
            manager.add_cache(fresh.clear)
    return cache  # type: ignore[no-any-return]


def file_signature(path: str | os.PathLike[str]) -> tuple[str, int, int]:
    """``(resolved path, mtime_ns, size)`` of a file; for a folder, the newest file inside and the total size."""
    path = Path(path).resolve()
    if path.is_dir():
        newest, total = 0, 0
        for folder, _, files in os.walk(path):
            for name in files:
                stat = os.stat(os.path.join(folder, name))
                newest, total = max(newest, stat.st_mtime_ns), total + stat.st_size
        return str(path), newest, total
    stat = path.stat()
    return str(path), stat.st_mtime_ns, stat.st_size
