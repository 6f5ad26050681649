"""The model manager on toy models: sizes, LRU eviction, locking, partial loading, budgets, OOM retry, CPU mode."""

from __future__ import annotations

import gc
import random
from typing import Any

import pytest
import torch

from nodes.memory import DeviceMemoryError, ModelManager, MoveSpy, SimulatedDevice, TorchMover, format_status
from tests.memory.conftest import DeviceProbe, budgets, nbytes, sim_manager, toy

X = torch.randn(4, 64)


def forward(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model(X)


def test_sizes_are_measured_from_parameters_and_buffers() -> None:
    manager, _ = sim_manager(1 << 30)
    model = toy(layers=3)
    entry = manager.register([model], name="toy")
    assert entry.size == nbytes(model) == 3 * (64 * 64 + 64) * 4 + (2 * 64 + 2 * 64) * 4 + 8
    assert sum(u.nbytes for u in entry.units) == entry.size and entry.state == "offloaded"


def test_least_recently_used_is_evicted_and_evicting_copies_nothing_back() -> None:
    models = {name: toy(seed=i) for i, name in enumerate("ABC")}
    size = nbytes(models["A"])
    manager, spy = sim_manager(2 * size + size // 2)  # holds two
    entries = {name: manager.register([m], name=name) for name, m in models.items()}
    for name in "ABCBA":
        with manager.use(entries[name]):
            forward(models[name])
    assert list(manager.events) == [("load", "A"), ("load", "B"), ("evict", "A"), ("load", "C"),
                                    ("evict", "C"), ("load", "A")]
    assert [e.name for e in manager.models()] == ["A", "B", "C"]  # most recently used first
    assert spy.bytes("in") == manager.stats.to_device == 4 * size and spy.bytes("out") == 0
    assert {n: e.state for n, e in entries.items()} == {"A": "full", "B": "full", "C": "offloaded"}


def test_models_in_use_are_never_evicted_and_a_newcomer_is_streamed() -> None:
    a, b = toy(seed=1), toy(seed=2)
    size = nbytes(a)
    expected = forward(b)
    manager, _ = sim_manager(size + size // 2)
    ea, eb = manager.register([a], name="A"), manager.register([b], name="B")
    probe = DeviceProbe(manager, [a, b])
    with manager.use(ea):
        with manager.use(eb):
            assert (ea.state, eb.state) == ("full", "partial")
            assert torch.equal(forward(b), expected)
    assert probe.peak <= manager.budgets.device and manager.peak <= manager.budgets.device and not probe.stale
    with manager.use(eb):  # A is idle now: evicted so B loads fully
        assert (ea.state, eb.state) == ("offloaded", "full")


def test_budget_is_never_exceeded_and_outputs_never_change_over_a_random_run() -> None:
    rng = random.Random(0)
    models = [toy(layers=n, seed=n) for n in (4, 8, 12, 24)]
    references = [forward(m) for m in models]
    budget = nbytes(models[2]) + nbytes(models[1]) // 3  # the largest model never fits
    manager, _ = sim_manager(budget)
    entries = [manager.register([m], name=f"m{i}") for i, m in enumerate(models)]
    probe = DeviceProbe(manager, models)
    for _ in range(40):
        i = rng.randrange(len(models))
        working = rng.choice([0, 1000, 20_000])
        with manager.use(entries[i], working=working):
            assert torch.equal(forward(models[i]), references[i])
            assert manager.device_bytes() <= budget
    assert 0 < probe.peak <= budget and manager.peak <= budget and not probe.stale
    assert any(e == ("partial", "m3") for e in manager.events)


def test_working_memory_is_reserved_and_too_much_is_an_error_naming_the_numbers() -> None:
    model = toy()
    size = nbytes(model)
    manager, _ = sim_manager(size + 10_000)
    entry = manager.register([model], name="toy")
    with manager.use(entry, working=5_000):
        assert entry.state == "full" and manager.device_bytes() == size + 5_000
    with manager.use(entry, working=20_000):
        assert entry.state == "partial" and manager.device_bytes() <= size + 10_000
    with pytest.raises(DeviceMemoryError) as info:
        with manager.use(entry, working=size + 20_000):
            pass
    assert info.value.needed > info.value.free and "toy needs at least" in str(info.value)
    assert entry.locks == 0 and manager._working == 0


def test_out_of_memory_frees_idle_models_and_retries_with_half_the_weights() -> None:
    idle, model = toy(seed=1), toy(seed=2)
    manager, _ = sim_manager(4 * nbytes(model))
    idle_entry, entry = manager.register([idle], name="idle"), manager.register([model], name="model")
    with manager.use(idle_entry):
        pass
    attempts: list[tuple[int, str, int]] = []

    def fn(attempt: int) -> torch.Tensor:
        attempts.append((attempt, entry.state, entry.device_bytes))
        if attempt == 0:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 MiB (simulated)")
        return forward(model)

    out = manager.run(fn, entry, working=lambda attempt: 1000 * (attempt + 1), what="toy step")
    assert torch.equal(out, forward(toy(seed=2)))
    assert attempts[0][:2] == (0, "full") and attempts[1][:2] == (1, "partial")
    assert attempts[1][2] <= nbytes(model) // 2
    assert idle_entry.state == "offloaded" and manager.stats.oom_retries == 1


def test_out_of_memory_twice_fails_saying_what_was_needed_and_free() -> None:
    model = toy()
    manager, _ = sim_manager(2 * nbytes(model))
    entry = manager.register([model], name="toy")

    def fn(attempt: int) -> None:
        raise torch.OutOfMemoryError("simulated")

    with pytest.raises(DeviceMemoryError) as info:
        manager.run(fn, entry, working=123_456, what="VAE decode", retry="tiles of 256 px")
    text = str(info.value)
    assert "VAE decode ran out of memory on sim:0" in text and "needs at least" in text and "were free" in text
    assert "tiles of 256 px" in text and info.value.budget == 2 * nbytes(model)
    assert isinstance(info.value.__cause__, torch.OutOfMemoryError)


def test_other_errors_are_not_retried() -> None:
    manager, _ = sim_manager(1 << 30)
    entry = manager.register([toy()], name="toy")
    calls = []

    def fn(attempt: int) -> None:
        calls.append(attempt)
        raise ValueError("not a memory problem")

    with pytest.raises(ValueError):
        manager.run(fn, entry)
    assert calls == [0]


def test_on_the_cpu_nothing_moves_but_the_accounts_are_kept() -> None:
    spy = MoveSpy(TorchMover("cpu", "cpu"))
    models = [toy(seed=i) for i in range(3)]
    size = nbytes(models[0])
    manager = ModelManager(mover=spy, budgets=budgets(2 * size + 100, mode="cpu"))
    entries = [manager.register([m], name=f"m{i}") for i, m in enumerate(models)]
    before = [p.data_ptr() for m in models for p in m.parameters()]
    for i in (0, 1, 2):
        with manager.use(entries[i]):
            forward(models[i])
    assert spy.log == [] and [p.data_ptr() for m in models for p in m.parameters()] == before
    assert ("evict", "m0") in manager.events and manager.status()["device_bytes"] == 2 * size


def test_highvram_gives_the_ram_copy_back_and_copies_back_on_eviction() -> None:
    a, b = toy(seed=1), toy(seed=2)
    size = nbytes(a)
    manager, spy = sim_manager(size + 100, mode="highvram", keep_ram_copy=False)
    ea, eb = manager.register([a], name="A"), manager.register([b], name="B")
    with manager.use(ea):
        forward(a)
    assert ea.homes == {}
    with manager.use(eb):
        forward(b)
    assert spy.bytes("out") == size and manager.stats.to_offload == size
    with manager.use(ea):
        assert torch.equal(forward(a), forward(toy(seed=1)))


def test_novram_streams_every_block() -> None:
    model = toy(layers=6)
    expected = forward(model)
    manager, spy = sim_manager(nbytes(model), weights=0, mode="novram")
    entry = manager.register([model], name="toy")
    probe = DeviceProbe(manager, [model])
    with manager.use(entry):
        assert torch.equal(forward(model), expected)
        assert entry.device_bytes == 0 and entry.state == "partial"
    assert manager.stats.streamed == entry.size and not probe.stale
    assert probe.peak <= max(u.nbytes for u in entry.units)


def test_unload_all_gives_memory_back_and_forgotten_models_leave_the_accounts() -> None:
    manager, _ = sim_manager(1 << 30)
    model = toy()
    entry = manager.register([model], name="toy")
    with manager.use(entry):
        forward(model)
    assert manager.unload_all() == nbytes(model) and manager.status()["device_bytes"] == 0
    with manager.use(entry):
        pass
    del entry, model
    gc.collect()
    assert manager.models() == [] and manager.device_bytes() == 0


def test_registering_the_same_modules_twice_shares_one_record() -> None:
    manager, _ = sim_manager(1 << 30)
    model = toy()
    first = manager.register([model], name="a")
    assert manager.register([model], name="b") is first and len(manager.models()) == 1


def test_patches_are_restored_before_weights_move() -> None:
    manager, _ = sim_manager(1 << 30)
    model = toy()
    calls: list[str] = []
    entry = manager.register([model], name="toy", on_move=[lambda: calls.append(entry.state)])
    with manager.use(entry):
        pass
    with manager.use(entry):  # already resident: nothing moves
        pass
    manager.unload_all()
    assert calls == ["offloaded", "full"]


def test_status_lists_models_bytes_and_budgets() -> None:
    manager, _ = sim_manager(10 * MIB_)
    model = toy()
    entry = manager.register([model], name="sd.safetensors:unet", kind="unet")
    with manager.use(entry, working=1000):
        status = manager.status()
        assert status["working_bytes"] == 1000 and status["models"][0]["in_use"] is True
    status = manager.status()
    assert status["compute_device"] == "sim:0" and status["budgets"]["device_budget"] == 10 * MIB_
    assert status["models"] == [{"name": "sd.safetensors:unet", "kind": "unet", "size": entry.size,
                                 "device_bytes": entry.size, "disk_bytes": 0, "state": "full", "in_use": False}]
    text = format_status(status)
    assert "sd.safetensors:unet" in text and "budget" in text


MIB_ = 1 << 20


def test_models_the_next_jobs_expect_are_evicted_last() -> None:
    models = {name: toy(seed=i) for i, name in enumerate("ABC")}
    size = nbytes(models["A"])
    manager, _ = sim_manager(2 * size + size // 2)
    entries = {n: manager.register([m], name=f"{n}.safetensors:unet") for n, m in models.items()}
    for name in "AB":
        with manager.use(entries[name]):
            pass
    manager.expect_prompts([{"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sub/A.safetensors"}}}])
    with manager.use(entries["C"]):  # plain LRU would evict A
        pass
    assert ("evict", "B.safetensors:unet") in manager.events and entries["A"].state == "full"
    manager.expect([])
    with manager.use(entries["B"]):  # no hints: LRU again
        pass
    assert manager.events[-2] == ("evict", "A.safetensors:unet")


@pytest.mark.parametrize("on_cpu", [False, True])
def test_over_the_ram_budget_the_largest_idle_models_are_mapped_from_disk(tmp_path: Any, on_cpu: bool) -> None:
    models = [toy(layers=n, seed=n) for n in (4, 8, 12)]
    references = [forward(m) for m in models]
    sizes = [nbytes(m) for m in models]
    mover = TorchMover("cpu", "cpu") if on_cpu else SimulatedDevice()
    manager = ModelManager(mover=MoveSpy(mover), budgets=budgets(1 << 30, ram=sizes[0] + sizes[1] // 2),
                           disk_dir=str(tmp_path))
    entries = [manager.register([m], name=f"m{i}") for i, m in enumerate(models)]
    with manager.use(entries[0]):
        assert torch.equal(forward(models[0]), references[0])
    assert [e.disk_bytes for e in entries] == [0, sizes[1], sizes[2]]  # largest first, until RAM fits
    assert manager.ram_bytes() == sizes[0] <= manager.budgets.ram and ("disk", "m2") in manager.events
    for i in (1, 2):
        with manager.use(entries[i]):
            assert torch.equal(forward(models[i]), references[i])
    assert list(tmp_path.iterdir()) == []  # mapped and unlinked: nothing left behind
    assert manager.status()["disk_bytes"] >= sizes[1] + sizes[2]
