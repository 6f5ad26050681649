"""Fixtures for the server tests: a runtime with the toy pack, app clients, and a websocket reader."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from nodes.runtime import Runtime, Settings, build_runtime
from server.app import create_app
from server.state import ServerConfig
from tests.server import toy_pack

TIMEOUT = 10.0


def make_runtime(base: Path, **settings: Any) -> Runtime:
    runtime = build_runtime(Settings(base_dir=str(base), entry_points=False, disable_custom_nodes=True, **settings))
    for fn in toy_pack.LATENTLOOM_NODES:
        runtime.registry.register(fn, source="toy_pack")
    return runtime


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    return make_runtime(tmp_path)


ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def make_client(aiohttp_client: Any, runtime: Runtime) -> ClientFactory:
    """``await make_client(api_key=..., ...)``: a test client for an app with that ServerConfig."""

    async def make(rt: Runtime | None = None, **config: Any) -> TestClient:
        app = create_app(rt or runtime, ServerConfig(**config))
        return await aiohttp_client(app)

    return make


@pytest.fixture
async def client(make_client: ClientFactory) -> TestClient:
    return await make_client()


def save_workflow(value: int = 7, prefix: str = "toy", subfolder: str = "") -> dict[str, Any]:
    """IntAdd -> SaveToyImage."""
    return {
        "1": {"class_type": "IntAdd", "inputs": {"a": value, "b": 0}},
        "2": {"class_type": "SaveToyImage", "inputs": {"value": ["1", 0], "filename_prefix": prefix, "subfolder": subfolder}},
    }


def chain_workflow(n: int) -> dict[str, Any]:
    """A chain of ``n`` IntAdd nodes ending in PreviewAny (id "out")."""
    doc: dict[str, Any] = {"1": {"class_type": "IntAdd", "inputs": {"a": 0, "b": 1}}}
    for i in range(2, n + 1):
        doc[str(i)] = {"class_type": "IntAdd", "inputs": {"a": [str(i - 1), 0], "b": 1}}
    doc["out"] = {"class_type": "PreviewAny", "inputs": {"source": [str(n), 0]}}
    return doc


def sleep_workflow(seconds: float = 5.0, value: int = 1) -> dict[str, Any]:
    return {
        "1": {"class_type": "SleepToy", "inputs": {"value": value, "seconds": seconds}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }


class Ws:
    """A websocket reader: JSON text frames as dicts, binary frames as bytes."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seen: list[Any] = []

    async def next(self, timeout: float = TIMEOUT) -> Any:
        msg = await asyncio.wait_for(self.ws.receive(), timeout)
        if msg.type == WSMsgType.TEXT:
            item: Any = json.loads(msg.data)
        elif msg.type == WSMsgType.BINARY:
            item = msg.data
        else:
            raise AssertionError(f"websocket closed: {msg.type} {msg.data!r}")
        self.seen.append(item)
        return item

    async def until(self, kind: str, timeout: float = TIMEOUT, **match: Any) -> dict[str, Any]:
        """Read until a text message of ``kind`` whose data matches ``match``."""
        while True:
            item = await self.next(timeout)
            if isinstance(item, dict) and item["type"] == kind and all(item["data"].get(k) == v for k, v in match.items()):
                return item

    async def until_done(self, prompt_id: str) -> list[Any]:
        """Read until the completion signal of ``prompt_id``; returns everything read, in order."""
        start = len(self.seen)
        await self.until("executing", node=None, prompt_id=prompt_id)
        return self.seen[start:]

    async def close(self) -> None:
        await self.ws.close()


async def connect(client: TestClient, client_id: str | None = "c1", **headers: str) -> Ws:
    """Open /ws and read the first status message."""
    path = "/ws" if client_id is None else f"/ws?clientId={client_id}"
    ws = Ws(await client.ws_connect(path, headers=headers or None))
    first = await ws.next()
    assert first["type"] == "status"
    return ws


def types(items: list[Any]) -> list[str]:
    return [i["type"] if isinstance(i, dict) else f"binary:{int.from_bytes(i[:4], 'big')}" for i in items]


async def submit(client: TestClient, prompt: dict[str, Any], **fields: Any) -> dict[str, Any]:
    resp = await client.post("/prompt", json={"prompt": prompt, **fields})
    body = await resp.json()
    assert resp.status == 200, body
    return body


async def finished(client: TestClient, prompt_id: str, timeout: float = TIMEOUT) -> Any:
    """Wait for a job to finish through the worker's own notification (no polling); returns the job."""
    from server.state import WORKER

    job = await client.app[WORKER].wait_for(prompt_id, timeout)
    assert job is not None, f"job {prompt_id} did not finish within {timeout} s"
    return job


async def started(client: TestClient, prompt_id: str, timeout: float = TIMEOUT) -> None:
    """Wait until ``prompt_id`` is the running job and one of its nodes has started."""
    from server.state import HUB, WORKER

    worker, hub = client.app[WORKER], client.app[HUB]
    deadline = asyncio.get_running_loop().time() + timeout
    while not (worker.current is not None and worker.current.job.id == prompt_id and hub.running_node is not None):
        assert asyncio.get_running_loop().time() < deadline, f"job {prompt_id} did not start"
        await asyncio.sleep(0.002)
