"""Cache policies: one conformance suite for every in-memory policy, plus each policy's own rule."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from graph.cache import (
    CacheEntry,
    DiskCache,
    LastRunCache,
    LRUCache,
    MsgpackCodec,
    NullCache,
    RamPressureCache,
    canonical,
    make_cache,
    node_key,
    size_of,
)

KEEPING = [LastRunCache, lambda: LRUCache(10), lambda: RamPressureCache(0)]


def entry(v: object) -> CacheEntry:
    return CacheEntry(([v],), None)


@pytest.mark.parametrize("factory", KEEPING)
def test_conformance_put_get_clear(factory: object) -> None:
    cache = factory()  # type: ignore[operator]
    cache.begin_run({"a", "b"})
    assert cache.get("a") is None
    cache.put("a", entry(1))
    cache.put("b", entry(2))
    assert cache.get("a") == entry(1) and cache.get("b").outputs == ([2],)
    cache.end_run()
    assert len(cache) == 2
    cache.clear()
    assert len(cache) == 0 and cache.get("a") is None


def test_null_cache_keeps_nothing() -> None:
    c = NullCache()
    c.put("a", entry(1))
    assert c.get("a") is None and len(c) == 0


def test_last_run_drops_what_the_next_run_does_not_use() -> None:
    c = LastRunCache()
    c.put("a", entry(1))
    c.put("b", entry(2))
    c.begin_run({"b", "c"})
    assert c.get("a") is None and c.get("b") is not None


def test_lru_evicts_least_recent_but_never_pinned() -> None:
    c = LRUCache(2)
    c.begin_run({"a", "b", "c"})
    for k in "abc":
        c.put(k, entry(k))
    assert len(c) == 3  # all pinned by the current run
    c.end_run()
    assert len(c) == 2 and c.get("a") is None
    c.begin_run(set())
    c.get("b")
    c.put("d", entry("d"))
    assert c.get("c") is None and c.get("b") is not None
    with pytest.raises(ValueError):
        LRUCache(0)


def test_ram_pressure_evicts_old_and_big_first() -> None:
    free = [10**9]
    c = RamPressureCache(100, memory_probe=lambda: free[0])
    c.begin_run({"small", "big"})
    c.put("small", CacheEntry(([b"x" * 10],)))
    c.put("big", CacheEntry(([b"x" * 10_000],)))
    c.end_run()
    c.begin_run({"new"})
    def probe() -> int:
        return 200 if len(c) < 3 else 50

    c._probe = probe  # memory goes low once the third entry lands
    c.put("new", entry(1))
    assert c.get("big") is None and c.get("small") is not None and c.get("new") is not None


def test_keys_depend_on_content_not_order_of_calls() -> None:
    a = node_key("Add", "1", ["a=int:1", "b=@k:0"])
    assert a == node_key("Add", "1", ["a=int:1", "b=@k:0"])
    assert a != node_key("Add", "2", ["a=int:1", "b=@k:0"])
    assert a != node_key("Add", "1", ["a=int:2", "b=@k:0"])
    assert canonical(1) != canonical(1.0) != canonical("1")
    assert canonical({"b": 1, "a": [1, 2]}) == canonical({"a": [1, 2], "b": 1})
    assert canonical(math.nan) != canonical(math.nan)
    assert canonical(object()) != canonical(object())


def test_size_of_counts_nbytes_and_containers() -> None:
    class T:
        nbytes = 1000

    assert size_of(T()) == 1000
    assert size_of({"samples": T(), "other": [T(), T()]}) >= 3000


def test_disk_cache_persists_and_caps(tmp_path: Path) -> None:
    disk = DiskCache(LastRunCache(), tmp_path, max_bytes=10_000)
    disk.put("k1", CacheEntry(([1, "two", {"x": 3.5}],), {"text": ["hi"]}))
    disk.put("out", entry(1), persist=False)
    fresh = DiskCache(LastRunCache(), tmp_path, max_bytes=10_000)
    assert fresh.get("k1") == CacheEntry(([1, "two", {"x": 3.5}],), {"text": ["hi"]})
    assert fresh.get("out") is None
    assert fresh.hits == 1
    big = DiskCache(NullCache(), tmp_path / "big", max_bytes=3000)
    for i in range(5):
        big.put(f"{i:02d}key", entry("x" * 1000))
    assert big.disk_bytes <= 3000
    assert big.get("04key") is not None and big.get("00key") is None


def test_disk_cache_skips_what_the_codec_refuses(tmp_path: Path) -> None:
    disk = DiskCache(LastRunCache(), tmp_path)
    disk.put("model", entry(object()))
    assert disk.writes == 0 and disk.get("model") is not None  # memory tier still has it
    assert MsgpackCodec().encode(entry(object())) is None


def test_corrupt_disk_entry_is_dropped(tmp_path: Path) -> None:
    disk = DiskCache(NullCache(), tmp_path)
    disk.put("abcd", entry(5))
    path = next(tmp_path.glob("*/*.bin"))
    path.write_bytes(b"\xc1garbage")
    assert DiskCache(NullCache(), tmp_path).get("abcd") is None
    assert not path.exists()


def test_make_cache_builds_each_policy(tmp_path: Path) -> None:
    assert isinstance(make_cache("last"), LastRunCache)
    assert isinstance(make_cache("lru", lru_size=3), LRUCache)
    assert isinstance(make_cache("ram"), RamPressureCache)
    assert isinstance(make_cache("none"), NullCache)
    assert isinstance(make_cache("lru", disk_dir=str(tmp_path)), DiskCache)
    with pytest.raises(ValueError, match="unknown cache policy"):
        make_cache("fifo")
