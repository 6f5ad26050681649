"""/openapi.json describes every mounted route, and real responses match its schemas."""

from __future__ import annotations

import io
import json
from typing import Any

import msgpack
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from PIL import Image

from nodes.runtime import Runtime
from server.openapi import OPERATIONS, canonical, mounted_routes, openapi_path
from tests.server.conftest import finished, save_workflow, sleep_workflow, started, submit
from tests.server.schema_lite import errors


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", (2, 2), (1, 2, 3, 4)).save(buf, format="PNG")
    return buf.getvalue()


def _png_with_workflow() -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("prompt", json.dumps(save_workflow(3)))
    buf = io.BytesIO()
    Image.new("RGB", (2, 2)).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def _upload(**fields: str) -> FormData:
    form = FormData()
    form.add_field("image", _png(), filename="u.png", content_type="image/png")
    for k, v in fields.items():
        form.add_field(k, v)
    return form


async def test_every_route_is_described(client: TestClient) -> None:
    doc = await (await client.get("/openapi.json")).json()
    assert doc["openapi"] == "3.1.0"
    mounted = mounted_routes(client.app)
    assert len(mounted) >= 2 * len(OPERATIONS)
    for method, path in mounted:
        operation = doc["paths"][openapi_path(path)][method.lower()]
        assert operation["summary"] != "Undocumented route", (method, path)
        assert (method, canonical(path)) in OPERATIONS
    for method, path in OPERATIONS:  # and nothing is described that is not mounted
        assert (method, path) in mounted and (method, "/api" + path) in mounted


def _scenario(runtime: Runtime) -> list[tuple[str, str, str, dict[str, Any], int]]:
    """(method, described path, url, request kwargs, expected status) for a tour of every route."""
    ref = json.dumps({"filename": "u.png", "type": "input"})
    return [
        ("POST", "/prompt", "/prompt", {"json": {"prompt": save_workflow(), "prompt_id": "a", "client_id": "c"}}, 200),
        ("POST", "/prompt", "/api/prompt", {"json": {"prompt": {"1": {"class_type": "IntAdd", "inputs": {"a": "x"}},
                                                                 "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}}}, 400),
        ("POST", "/prompt", "/prompt", {"json": {}}, 400),
        ("GET", "/prompt", "/prompt", {}, 200),
        ("POST", "/run", "/run", {"json": {"prompt": save_workflow(1), "inline_images": True}}, 200),
        ("POST", "/run", "/run", {"json": {"prompt": {}}}, 400),
        ("GET", "/queue", "/queue", {}, 200),
        ("POST", "/queue", "/queue", {"json": {"delete": ["zzz"]}}, 200),
        ("POST", "/queue", "/queue", {"json": {"delete": 5}}, 400),
        ("GET", "/history", "/history", {}, 200),
        ("GET", "/history", "/history?max_items=q", {}, 400),
        ("GET", "/history/{prompt_id}", "/history/a", {}, 200),
        ("GET", "/history/{prompt_id}", "/history/unknown", {}, 200),
        ("POST", "/history", "/history", {"json": {"delete": ["nothing"]}}, 200),
        ("GET", "/api/jobs", "/api/jobs?limit=5", {}, 200),
        ("GET", "/api/jobs", "/api/jobs?limit=0", {}, 400),
        ("GET", "/api/jobs/{job_id}", "/api/jobs/a", {}, 200),
        ("GET", "/api/jobs/{job_id}", "/api/jobs/missing", {}, 404),
        ("POST", "/api/jobs/{job_id}/cancel", "/api/jobs/a/cancel", {}, 200),
        ("POST", "/api/jobs/{job_id}/cancel", "/api/jobs/missing/cancel", {}, 404),
        ("POST", "/interrupt", "/interrupt", {"json": {"prompt_id": "none"}}, 200),
        ("POST", "/free", "/free", {"json": {"free_memory": False}}, 200),
        ("POST", "/free", "/free", {"data": b"[]"}, 400),
        ("GET", "/object_info", "/object_info", {}, 200),
        ("GET", "/object_info/{node_class}", "/object_info/IntAdd", {}, 200),
        ("GET", "/system_stats", "/system_stats", {}, 200),
        ("GET", "/features", "/features", {}, 200),
        ("GET", "/openapi.json", "/openapi.json", {}, 200),
        ("GET", "/view", "/view?filename=toy_00001_.png", {}, 200),
        ("GET", "/view", "/view?filename=../x", {}, 400),
        ("GET", "/view", "/view?filename=x&subfolder=..", {}, 403),
        ("GET", "/view", "/view?filename=nothing.png", {}, 404),
        ("POST", "/upload/image", "/upload/image", {"data": _upload()}, 200),
        ("POST", "/upload/image", "/upload/image", {"data": _upload(type="bogus")}, 400),
        ("POST", "/upload/image", "/upload/image", {"data": _upload(big="x" * 3_000_000)}, 413),
        ("POST", "/upload/image", "/upload/image", {"data": b"x" * 600_000, "headers": {"Content-Type": "multipart/form-data; boundary=x"}}, 400),
        ("POST", "/upload/mask", "/upload/mask", {"data": _upload(original_ref=ref)}, 200),
        ("POST", "/upload/mask", "/upload/mask", {"data": _upload(original_ref=json.dumps({"filename": "no.png"}))}, 404),
        ("GET", "/view_metadata/{folder_name}", "/view_metadata/checkpoints?filename=none.safetensors", {}, 404),
        ("GET", "/models", "/models", {}, 200),
        ("GET", "/models/{folder}", "/models/checkpoints", {}, 200),
        ("GET", "/models/{folder}", "/models/nothing", {}, 404),
        ("GET", "/embeddings", "/embeddings", {}, 200),
        ("GET", "/extensions", "/extensions", {}, 200),
        ("GET", "/extensions/{pack}/{path}", "/extensions/none/a.js", {}, 404),
        ("GET", "/workflows", "/workflows", {}, 200),
        ("GET", "/workflows/{name}", "/api/workflows/hello", {}, 200),
        ("GET", "/workflows/{name}", "/workflows/nothing", {}, 404),
        ("POST", "/workflows/{name}/run", "/api/workflows/hello/run", {"json": {"prompt_id": "w"}}, 200),
        ("POST", "/workflows/{name}/run", "/workflows/hello/run", {"json": {"params": {"x": 1}}}, 400),
        ("POST", "/workflows/{name}/run", "/workflows/nothing/run", {"json": {}}, 404),
        ("POST", "/workflows/from_png", "/workflows/from_png",
         {"data": _png_with_workflow(), "headers": {"Content-Type": "image/png"}}, 200),
        ("POST", "/workflows/from_png", "/api/workflows/from_png", {"data": _upload()}, 400),
    ]


async def test_real_responses_match_the_schemas(make_client: Any, runtime: Runtime) -> None:
    client: TestClient = await make_client(max_upload_mb=2)
    doc = await (await client.get("/openapi.json")).json()
    checked: set[tuple[str, str]] = set()
    for method, path, url, kwargs, status in _scenario(runtime):
        resp = await client.request(method, url, **kwargs)
        assert resp.status == status, (method, url, await resp.text())
        operation = doc["paths"][openapi_path(path)][method.lower()]
        described = operation["responses"].get(str(resp.status))
        assert described is not None, f"{method} {path} does not describe status {resp.status}"
        checked.add((method, path))
        if path == "/prompt" and status == 200:
            await finished(client, "a")
        content = described.get("content", {})
        if "application/json" in content:
            body = await resp.json()
            problems = errors(body, content["application/json"]["schema"], doc)
            assert not problems, (method, url, problems)
        elif not content:
            assert await resp.read() == b"", (method, url)
    await _check_msgpack_and_waiting(client, doc)
    missing = set(OPERATIONS) - checked - {("GET", "/ws")}
    assert not missing, missing


async def _check_msgpack_and_waiting(client: TestClient, doc: dict[str, Any]) -> None:
    await submit(client, sleep_workflow(10), prompt_id="busy")
    await started(client, "busy")
    await submit(client, save_workflow(), prompt_id="queued")
    for url, path in (("/queue", "/queue"), ("/api/jobs", "/api/jobs"), ("/api/jobs/busy", "/api/jobs/{job_id}")):
        resp = await client.get(url, headers={"Accept": "application/msgpack"})
        assert resp.content_type == "application/msgpack"
        schema = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/msgpack"]["schema"]
        assert not errors(msgpack.unpackb(await resp.read()), schema, doc), url
    resp = await client.post("/run", json={"prompt": save_workflow(2), "timeout": 0.01})
    assert resp.status == 202
    schema = doc["paths"]["/run"]["post"]["responses"]["202"]["content"]["application/json"]["schema"]
    assert not errors(await resp.json(), schema, doc)
    await client.post("/queue", json={"clear": True})
    await client.post("/interrupt")
    await finished(client, "busy")
