"""The runtime's cache of loaded models, so that one file loaded twice shares its weights.

Loader nodes ask :func:`model_cache` for the cache of the running application (one per
:class:`~nodes.runtime.Runtime`, kept in ``runtime.services``); it maps a key made of what was read
(kind, resolved path, modification time and size) and how it was placed (device, dtypes) to the loaded
handles.  The most recently used :data:`KEEP` entries are kept; an older one is dropped from the cache
(the weights themselves live as long as some handle still uses them).  A changed file has a new key,
so it is read again.
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


class ModelCache:
    """A small thread-safe LRU of loaded models (see the module docstring)."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
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
            while len(self._entries) > self.keep:
                self._entries.popitem(last=False)
            return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def model_cache(services: Any = None) -> ModelCache:
    """The cache of ``services`` (default: the running node's runtime); a throwaway one without a runtime."""
    if services is None:
        from graph.context import runtime

        services = runtime()
    store = getattr(services, "services", None)
    if not isinstance(store, dict):
        return ModelCache()
    return store.setdefault(SERVICE_KEY, ModelCache())  # type: ignore[no-any-return]


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
