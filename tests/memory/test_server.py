"""Memory given back: /free through the server, /system_stats reporting the manager, RSS flat over 50 runs."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from nodes.models.cache import SERVICE_KEY as MODEL_CACHE
from nodes.runtime import Runtime
from server.app import create_app
from server.state import ServerConfig
from tests.diffusion.test_end_to_end import txt2img
from tests.memory.conftest import sim_manager
from tests.server.conftest import finished, submit

MIB = 1 << 20


def managed_runtime(make_runtime: Callable[..., Runtime], device: int) -> Runtime:
    rt = make_runtime()
    rt.services["models"], _ = sim_manager(device)
    return rt


async def _client(aiohttp_client: Any, rt: Runtime) -> TestClient:
    return await aiohttp_client(create_app(rt, ServerConfig()))  # type: ignore[no-any-return]


async def test_system_stats_reports_models_bytes_and_budgets(
    aiohttp_client: Any, make_runtime: Callable[..., Runtime]
) -> None:
    rt = managed_runtime(make_runtime, 64 * MIB)
    client = await _client(aiohttp_client, rt)
    await submit(client, txt2img("sd1.safetensors", steps=1), prompt_id="a")
    assert (await finished(client, "a", timeout=60)).status == "done"
    stats = await (await client.get("/system_stats")).json()
    memory = stats["memory"]
    assert memory["compute_device"] == "sim:0" and memory["budgets"]["device_budget"] == 64 * MIB
    assert {m["name"] for m in memory["models"]} == {f"sd1.safetensors:{k}" for k in ("unet", "clip", "vae")}
    assert memory["device_bytes"] == sum(m["device_bytes"] for m in memory["models"]) > 0
    assert 0 < memory["peak_device_bytes"] <= 64 * MIB and memory["moves"]["to_device"] > 0
    assert stats["devices"][0]["type"] == "cpu"  # ComfyUI's part is unchanged


async def test_free_unloads_models_and_free_memory_forgets_them(
    aiohttp_client: Any, make_runtime: Callable[..., Runtime]
) -> None:
    rt = managed_runtime(make_runtime, 64 * MIB)
    manager = rt.models
    client = await _client(aiohttp_client, rt)
    await submit(client, txt2img("sd1.safetensors", steps=1), prompt_id="a")
    await finished(client, "a", timeout=60)
    assert manager.status()["device_bytes"] > 0
    assert (await client.post("/free", json={"unload_models": True})).status == 200
    await submit(client, {"1": {"class_type": "PrimitiveInt", "inputs": {"value": 1}},
                          "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}, prompt_id="b")
    await finished(client, "b")  # /free applies before the next run at the latest
    assert manager.status()["device_bytes"] == 0 and len(manager.models()) == 3  # still loaded in RAM

    assert (await client.post("/free", json={"free_memory": True})).status == 200
    await submit(client, {"1": {"class_type": "PrimitiveInt", "inputs": {"value": 2}},
                          "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}, prompt_id="c")
    await finished(client, "c")
    gc.collect()
    assert len(rt.services[MODEL_CACHE]) == 0 and manager.models() == []  # nothing holds the weights any more


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads RSS from /proc")
def test_fifty_runs_of_the_same_workflow_leave_rss_flat(make_runtime: Callable[..., Runtime]) -> None:
    # A budget that holds the UNet and CLIP but makes the VAE decode evict them: every run loads and evicts.
    rt = make_runtime(cache="none")
    rt.services["models"], spy = sim_manager(11 * MIB)
    doc = txt2img("sd1.safetensors", steps=1)
    rss = []
    for i in range(50):
        result = rt.engine.run(doc)
        assert result.ok, result.error
        if i in (9, 49):
            gc.collect()
            rss.append(_rss())
    evictions = rt.models.stats.evictions
    assert evictions >= 50 and spy.bytes("in") > 50 * rt.models.models()[0].size
    growth = rss[1] - rss[0]
    assert growth < 24 * MIB, f"RSS grew by {growth / MIB:.1f} MiB over 40 runs"


async def test_the_worker_tells_the_manager_what_the_queued_jobs_load(aiohttp_client: Any, tmp_path: Any) -> None:
    from tests.server.conftest import make_runtime as toy_runtime, sleep_workflow

    class Recorder:
        def __init__(self) -> None:
            self.hints: list[list[dict[str, Any]]] = []

        def expect_prompts(self, prompts: list[dict[str, Any]]) -> None:
            self.hints.append(prompts)

    rt = toy_runtime(tmp_path)
    rt.services["models"] = recorder = Recorder()
    client = await _client(aiohttp_client, rt)
    first, second, third = sleep_workflow(0.5, 1), sleep_workflow(0.0, 2), sleep_workflow(0.0, 3)
    for prompt_id, prompt in (("1", first), ("2", second), ("3", third)):
        await submit(client, prompt, prompt_id=prompt_id)
    await finished(client, "3")
    assert [third] in recorder.hints and recorder.hints[-1] == []
