"""Result caching keyed by content.

Keys
----
A node's key is a hash of its type and version, its constant inputs, its fingerprint (ComfyUI's
IS_CHANGED value) and, for each linked input, the upstream node's key and slot. Keys therefore depend on the
whole ancestry and never on node ids, so identical subgraphs share results wherever they sit. A node that is
not idempotent adds its own id, so two identical random nodes stay apart. A fingerprint of NaN (or one that
cannot be hashed) makes a key no other run can produce: the node always re-runs.

Policies
--------
Every policy implements :class:`Cache`: ``get``/``put`` by key, plus ``begin_run(keys)`` and ``end_run()``
around each run so a policy can see which keys the run uses.

* :class:`LastRunCache` (ComfyUI's classic default): keeps the results of the last run only; entries the new
  run does not use are dropped when it begins.
* :class:`LRUCache`: keeps up to N entries across runs, least recently used evicted first (never one the
  current run still needs).
* :class:`RamPressureCache`: keeps everything until available system memory falls below a threshold, then
  evicts by age times size.
* :class:`NullCache`: keeps nothing; every run executes everything.
* :class:`DiskCache` wraps any of them with a persistent, content-addressed, size-capped store for outputs a
  :class:`Codec` can serialise, so a restarted process reuses earlier results.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import uuid
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A node's results: one list of items per output slot, and its UI data."""

    outputs: tuple[list[Any], ...]
    ui: Mapping[str, Any] | None = None


class Cache(Protocol):
    """What the executor needs from a cache policy."""

    def get(self, key: str) -> CacheEntry | None: ...

    def put(self, key: str, entry: CacheEntry, *, persist: bool = True) -> None: ...

    def begin_run(self, keys: Collection[str]) -> None: ...

    def end_run(self) -> None: ...

    def clear(self) -> None: ...

    def __len__(self) -> int: ...


# -- keys ---------------------------------------------------------------------------------------------

_SCALARS = (str, int, float, bool, type(None))


def canonical(value: Any) -> str:
    """A deterministic text form of a constant (or fingerprint) for hashing.

    JSON-like values are encoded with sorted keys; anything else by type name and ``repr``.
    A NaN float gets a fresh unique token: NaN never equals itself, so the key never matches.
    """
    kind = type(value)
    if kind is float and math.isnan(value):
        return "nan:" + uuid.uuid4().hex
    if kind in _SCALARS:
        return f"{kind.__name__}:{value!r}"
    try:
        return "json:" + json.dumps(value, sort_keys=True, default=_fallback, allow_nan=False)
    except (TypeError, ValueError):
        return "unique:" + uuid.uuid4().hex


def _fallback(value: Any) -> Any:
    if isinstance(value, (tuple, set, frozenset)):
        return sorted(value, key=repr) if isinstance(value, (set, frozenset)) else list(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot hash a {type(value).__name__} constant")


def node_key(type_name: str, version: str, parts: list[str]) -> str:
    """Hash a node's identity and its input parts (already canonical strings) into a key."""
    text = "\0".join((type_name, version, *parts))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


# -- in-memory policies ------------------------------------------------------------------------------


class NullCache:
    """Keeps nothing."""

    def get(self, key: str) -> CacheEntry | None:
        return None

    def put(self, key: str, entry: CacheEntry, *, persist: bool = True) -> None:
        return None

    def begin_run(self, keys: Collection[str]) -> None:
        return None

    def end_run(self) -> None:
        return None

    def clear(self) -> None:
        return None

    def __len__(self) -> int:
        return 0


class LastRunCache:
    """ComfyUI's classic policy: only what the last run used (and the current run produces) survives."""

    def __init__(self) -> None:
        self._entries: dict[str, CacheEntry] = {}

    def get(self, key: str) -> CacheEntry | None:
        return self._entries.get(key)

    def put(self, key: str, entry: CacheEntry, *, persist: bool = True) -> None:
        self._entries[key] = entry

    def begin_run(self, keys: Collection[str]) -> None:
        keep = keys if isinstance(keys, (set, frozenset, dict)) else set(keys)
        for key in [k for k in self._entries if k not in keep]:
            del self._entries[key]

    def end_run(self) -> None:
        return None

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class LRUCache:
    """Up to ``max_entries`` results across runs; the least recently used go first.

    Entries the current run uses are never evicted while it runs (the size may exceed the limit until
    ``end_run``).
    """

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError(f"LRUCache needs max_entries >= 1, got {max_entries}")
        self.max_entries = max_entries
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._pinned: Collection[str] = frozenset()

    def get(self, key: str) -> CacheEntry | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: CacheEntry, *, persist: bool = True) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        self._trim()

    def _trim(self) -> None:
        if len(self._entries) <= self.max_entries:
            return
        for key in list(self._entries):
            if len(self._entries) <= self.max_entries:
                break
            if key not in self._pinned:
                del self._entries[key]

    def begin_run(self, keys: Collection[str]) -> None:
        self._pinned = keys if isinstance(keys, (set, frozenset, dict)) else set(keys)

    def end_run(self) -> None:
        self._pinned = frozenset()
        self._trim()

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def available_memory() -> int:
    """Bytes of memory available to new allocations (MemAvailable on Linux)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def size_of(value: Any, _depth: int = 0) -> int:
    """Estimated bytes held by a value: tensors and arrays by ``nbytes``, containers summed."""
    usage = getattr(value, "get_ram_usage", None)
    if callable(usage):
        return int(usage())
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    if _depth < 4 and isinstance(value, (list, tuple)):
        return sum(size_of(v, _depth + 1) for v in value) + sys.getsizeof(value)
    if _depth < 4 and isinstance(value, Mapping):
        return sum(size_of(v, _depth + 1) for v in value.values()) + sys.getsizeof(value)
    return sys.getsizeof(value)


class RamPressureCache:
    """Keeps results until available RAM drops below ``min_free_bytes``, then evicts by age x size.

    Age counts runs since the entry was last used; the score is ``1.3 ** age * size`` (ComfyUI's rule), so
    big, old entries go first. Eviction stops once available memory is 10% above the threshold.
    """

    def __init__(self, min_free_bytes: int, *, memory_probe: Any = available_memory) -> None:
        self.min_free_bytes = min_free_bytes
        self._probe = memory_probe
        self._entries: dict[str, CacheEntry] = {}
        self._used_in_run: dict[str, int] = {}
        self._sizes: dict[str, int] = {}
        self._run = 0
        self._pinned: Collection[str] = frozenset()

    def get(self, key: str) -> CacheEntry | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._used_in_run[key] = self._run
        return entry

    def put(self, key: str, entry: CacheEntry, *, persist: bool = True) -> None:
        self._entries[key] = entry
        self._used_in_run[key] = self._run
        self._sizes[key] = size_of(entry.outputs)
        self._relieve()

    def _relieve(self) -> None:
        if self._probe() >= self.min_free_bytes:
            return
        victims = sorted(
            (k for k in self._entries if k not in self._pinned),
            key=lambda k: (1.3 ** (self._run - self._used_in_run[k])) * self._sizes[k],
            reverse=True,
        )
        for key in victims:
            if self._probe() >= self.min_free_bytes * 1.1:
                break
            self._drop(key)

    def _drop(self, key: str) -> None:
        del self._entries[key]
        del self._used_in_run[key]
        del self._sizes[key]

    def begin_run(self, keys: Collection[str]) -> None:
        self._run += 1
        self._pinned = keys if isinstance(keys, (set, frozenset, dict)) else set(keys)

    def end_run(self) -> None:
        self._pinned = frozenset()
        self._relieve()

    def clear(self) -> None:
        for key in list(self._entries):
            self._drop(key)

    def __len__(self) -> int:
        return len(self._entries)


# -- persistent tier ---------------------------------------------------------------------------------


class Codec(Protocol):
    """Turns a cache entry into bytes and back; ``encode`` returns None for what it cannot serialise."""

    def encode(self, entry: CacheEntry) -> bytes | None: ...

    def decode(self, data: bytes) -> CacheEntry: ...


class MsgpackCodec:
    """Serialises entries made of JSON-like values (numbers, strings, booleans, None, lists, dicts).

    ``nodes`` extends it for tensors and images; anything else (a loaded model) is refused with None.
    """

    def encode(self, entry: CacheEntry) -> bytes | None:
        import msgpack

        try:
            return msgpack.packb({"o": [list(slot) for slot in entry.outputs], "u": entry.ui}, default=self.default)
        except (TypeError, ValueError, OverflowError):
            return None

    def decode(self, data: bytes) -> CacheEntry:
        import msgpack

        doc = msgpack.unpackb(data, ext_hook=self.ext_hook, strict_map_key=False)
        return CacheEntry(tuple(list(slot) for slot in doc["o"]), doc["u"])

    def default(self, value: Any) -> Any:
        """Encode one value msgpack cannot; raise TypeError to refuse it."""
        raise TypeError(f"cannot persist a {type(value).__name__}")

    def ext_hook(self, code: int, data: bytes) -> Any:
        """Decode an extension value written by ``default``."""
        raise ValueError(f"unknown msgpack extension type {code}")


class DiskCache:
    """A persistent second tier under any in-memory policy.

    Files are named by key under ``directory`` (two-level fan-out), written atomically, and the total is
    kept under ``max_bytes`` by deleting the least recently used files (by modification time, which a hit
    refreshes). Entries the codec refuses (models, handles) stay in memory only. ``put(..., persist=False)``
    keeps side-effecting nodes (output nodes) out of the disk tier.
    """

    def __init__(self, inner: Cache, directory: str | os.PathLike[str], *, max_bytes: int = 2 << 30, codec: Codec | None = None) -> None:
        self.inner = inner
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.codec: Codec = codec or MsgpackCodec()
        self._sizes: dict[Path, int] = {p: p.stat().st_size for p in self.directory.glob("*/*.bin")}
        self.hits = 0
        self.writes = 0

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.bin"

    def get(self, key: str) -> CacheEntry | None:
        entry = self.inner.get(key)
        if entry is not None:
            return entry
        path = self._path(key)
        if path not in self._sizes:
            return None
        try:
            entry = self.codec.decode(path.read_bytes())
            os.utime(path)
        except (OSError, ValueError, KeyError, TypeError):
            self._forget(path)
            return None
        self.hits += 1
        self.inner.put(key, entry)
        return entry

    def put(self, key: str, entry: CacheEntry, *, persist: bool = True) -> None:
        self.inner.put(key, entry, persist=persist)
        path = self._path(key)
        if not persist or path in self._sizes:
            return
        data = self.codec.encode(entry)
        if data is None or len(data) > self.max_bytes:
            return
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        self._sizes[path] = len(data)
        self.writes += 1
        self._trim()

    def _trim(self) -> None:
        total = sum(self._sizes.values())
        if total <= self.max_bytes:
            return
        by_age = sorted(self._sizes, key=lambda p: p.stat().st_mtime if p.exists() else 0.0)
        for path in by_age:
            if total <= self.max_bytes:
                break
            total -= self._sizes[path]
            self._forget(path)

    def _forget(self, path: Path) -> None:
        self._sizes.pop(path, None)
        try:
            path.unlink()
        except OSError:
            pass

    @property
    def disk_bytes(self) -> int:
        return sum(self._sizes.values())

    def begin_run(self, keys: Collection[str]) -> None:
        self.inner.begin_run(keys)

    def end_run(self) -> None:
        self.inner.end_run()

    def clear(self, *, disk: bool = False) -> None:
        self.inner.clear()
        if disk:
            for path in list(self._sizes):
                self._forget(path)

    def __len__(self) -> int:
        return len(self.inner)


def make_cache(policy: str = "last", *, lru_size: int = 64, ram_free_gb: float = 4.0, disk_dir: str | None = None, disk_max_gb: float = 2.0, codec: Codec | None = None) -> Cache:
    """Build a cache from settings: policy ``last`` | ``lru`` | ``ram`` | ``none``, optionally disk-backed."""
    inner: Cache
    if policy == "last":
        inner = LastRunCache()
    elif policy == "lru":
        inner = LRUCache(lru_size)
    elif policy == "ram":
        inner = RamPressureCache(int(ram_free_gb * (1 << 30)))
    elif policy == "none":
        inner = NullCache()
    else:
        raise ValueError(f"unknown cache policy {policy!r}; expected one of last, lru, ram, none")
    if disk_dir:
        return DiskCache(inner, disk_dir, max_bytes=int(disk_max_gb * (1 << 30)), codec=codec)
    return inner

