"""POST /api/run: submit and wait, answering with outputs, inline images or the error."""

from __future__ import annotations

import base64
import io

import msgpack
from aiohttp.test_utils import TestClient
from PIL import Image

from tests.server.conftest import save_workflow, sleep_workflow, started


async def test_run_answers_with_the_outputs(client: TestClient) -> None:
    resp = await client.post("/api/run", json={"prompt": save_workflow(30), "prompt_id": "r1"})
    body = await resp.json()
    assert resp.status == 200
    assert body["prompt_id"] == "r1" and body["status"] == "completed" and body["error"] is None
    assert body["outputs"] == {"2": {"images": [{"filename": "toy_00001_.png", "subfolder": "", "type": "output"}]}}
    assert body["images"] == [{"node_id": "2", "media": "images", "filename": "toy_00001_.png", "subfolder": "",
                               "type": "output"}]
    assert "r1" in await (await client.get("/history/r1")).json()


async def test_run_inline_images_base64_and_msgpack(client: TestClient) -> None:
    resp = await client.post("/run", json={"prompt": save_workflow(40), "inline_images": True})
    image = (await resp.json())["images"][0]
    assert Image.open(io.BytesIO(base64.b64decode(image["data"]))).getpixel((0, 0)) == (40, 40, 40)
    resp = await client.post("/run", data=msgpack.packb({"prompt": save_workflow(50), "inline_images": True}),
                             headers={"Content-Type": "application/msgpack", "Accept": "application/msgpack"})
    image = msgpack.unpackb(await resp.read())["images"][0]
    assert isinstance(image["data"], bytes)
    assert Image.open(io.BytesIO(image["data"])).getpixel((0, 0)) == (50, 50, 50)


async def test_run_reports_a_node_failure(client: TestClient) -> None:
    doc = {"1": {"class_type": "FailToy", "inputs": {"message": "nope"}},
           "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    body = await (await client.post("/run", json={"prompt": doc})).json()
    assert body["status"] == "failed" and body["error"]["exception_message"] == "nope"
    assert body["error"]["node_id"] == "1" and body["outputs"] == {}


async def test_run_validation_errors_are_the_prompt_400(client: TestClient) -> None:
    resp = await client.post("/run", json={"prompt": {"1": {"class_type": "IntAdd", "inputs": {}}}})
    assert resp.status == 400 and (await resp.json())["error"]["type"] == "prompt_no_outputs"


async def test_run_times_out_with_202_and_the_job_goes_on(client: TestClient) -> None:
    resp = await client.post("/run", json={"prompt": sleep_workflow(10), "prompt_id": "long", "timeout": 0.05})
    body = await resp.json()
    assert resp.status == 202 and body["prompt_id"] == "long" and body["status"] in ("pending", "in_progress")
    cancel = await client.post("/api/jobs/long/cancel")
    assert (await cancel.json())["cancelled"] in ("pending", "running")


async def test_run_of_a_job_cancelled_while_waiting(client: TestClient) -> None:
    import asyncio

    waiting = asyncio.ensure_future(client.post("/run", json={"prompt": sleep_workflow(10), "prompt_id": "c"}))
    await started(client, "c")
    await client.post("/api/jobs/c/cancel")
    body = await (await waiting).json()
    assert body["status"] == "cancelled" and body["error"] is None
