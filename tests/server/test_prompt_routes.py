"""POST/GET /prompt, /queue, /history, /api/jobs, /interrupt, /free: shapes, error bodies, both prefixes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgpack
import pytest
from aiohttp.test_utils import TestClient

from server.state import QUEUE, WORKER
from tests.server.conftest import chain_workflow, finished, save_workflow, sleep_workflow, started, submit


@pytest.mark.parametrize("prefix", ["", "/api"])
async def test_submit_runs_and_history_has_comfy_shape(client: TestClient, prefix: str) -> None:
    resp = await client.post(f"{prefix}/prompt", json={"prompt": save_workflow(9), "prompt_id": "p1", "client_id": "me"})
    assert resp.status == 200
    assert await resp.json() == {"prompt_id": "p1", "number": 1, "node_errors": {}}
    await finished(client, "p1")
    history = await (await client.get(f"{prefix}/history/p1")).json()
    entry = history["p1"]
    assert list(entry) == ["prompt", "outputs", "status", "meta"]
    number, prompt_id, prompt, extra, outputs = entry["prompt"]
    assert (number, prompt_id, prompt, outputs) == (1, "p1", save_workflow(9), ["2"])
    assert extra["client_id"] == "me" and isinstance(extra["create_time"], int)
    assert entry["outputs"] == {"2": {"images": [{"filename": "toy_00001_.png", "subfolder": "", "type": "output"}]}}
    assert entry["status"]["status_str"] == "success" and entry["status"]["completed"] is True
    assert [m[0] for m in entry["status"]["messages"]] == ["execution_start", "execution_cached", "execution_success"]
    assert entry["meta"]["2"] == {"node_id": "2", "display_node": "2", "parent_node": None, "real_node_id": "2"}


async def test_json_is_parsed_whatever_the_content_type(client: TestClient) -> None:
    body = json.dumps({"prompt": save_workflow(), "prompt_id": "form"})
    resp = await client.post("/prompt", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 200, await resp.text()
    resp = await client.post("/prompt", data=json.dumps({"prompt": save_workflow(), "prompt_id": "none"}).encode())
    assert resp.status == 200


async def test_msgpack_request_and_response(client: TestClient) -> None:
    body = msgpack.packb({"prompt": save_workflow(), "prompt_id": "mp"})
    resp = await client.post("/prompt", data=body, headers={"Content-Type": "application/msgpack",
                                                             "Accept": "application/msgpack"})
    assert resp.status == 200 and resp.content_type == "application/msgpack"
    assert msgpack.unpackb(await resp.read()) == {"prompt_id": "mp", "number": 1, "node_errors": {}}
    await finished(client, "mp")
    resp = await client.get("/history/mp", headers={"Accept": "application/msgpack"})
    assert msgpack.unpackb(await resp.read())["mp"]["status"]["status_str"] == "success"
    resp = await client.post("/prompt", data=b"\xc1", headers={"Content-Type": "application/msgpack"})
    assert resp.status == 400 and "msgpack" in (await resp.json())["error"]


async def test_missing_prompt_is_comfy_no_prompt(client: TestClient) -> None:
    resp = await client.post("/prompt", json={"client_id": "x"})
    assert resp.status == 400
    assert await resp.json() == {"error": {"type": "no_prompt", "message": "No prompt provided",
                                           "details": "No prompt provided", "extra_info": {}}, "node_errors": {}}


async def test_invalid_workflow_400_has_error_and_node_errors(client: TestClient) -> None:
    doc = {"1": {"class_type": "IntAdd", "inputs": {"a": "x"}},
           "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    resp = await client.post("/prompt", json={"prompt": doc})
    body = await resp.json()
    assert resp.status == 400
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    assert set(body["error"]) >= {"type", "message", "details", "extra_info"}
    reason = body["node_errors"]["1"]["errors"][0]
    assert reason["type"] == "invalid_input_type" and reason["extra_info"]["input_name"] == "a"
    assert body["node_errors"]["1"]["dependent_outputs"] == ["2"]
    assert body["node_errors"]["1"]["class_type"] == "IntAdd"


@pytest.mark.parametrize("doc, kind", [
    ({"1": {"class_type": "Nope", "inputs": {}}}, "invalid_prompt"),
    ({"1": {"inputs": {}}}, "invalid_prompt"),
    ({"1": {"class_type": "IntAdd", "inputs": {}}}, "prompt_no_outputs"),
    ([1, 2], "invalid_prompt"),
    ({"1": "not a node"}, "invalid_prompt"),
])
async def test_other_submission_errors(client: TestClient, doc: Any, kind: str) -> None:
    resp = await client.post("/prompt", json={"prompt": doc})
    body = await resp.json()
    assert resp.status == 400, body
    assert body["error"]["type"] == kind and body["node_errors"] == {}


async def test_partial_execution_targets(client: TestClient) -> None:
    doc = {**save_workflow(3), "3": {"class_type": "PreviewAny", "inputs": {"source": "only this"}}}
    body = await submit(client, doc, prompt_id="part", partial_execution_targets=["3"])
    await finished(client, body["prompt_id"])
    entry = (await (await client.get("/history/part")).json())["part"]
    assert entry["prompt"][4] == ["3"] and list(entry["outputs"]) == ["3"]
    resp = await client.post("/prompt", json={"prompt": doc, "partial_execution_targets": []})
    assert (await resp.json())["error"]["type"] == "prompt_no_outputs"


async def test_some_outputs_fail_validation_the_others_run(client: TestClient) -> None:
    doc = {**save_workflow(3), "3": {"class_type": "IntAdd", "inputs": {"a": "bad"}},
           "4": {"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}}}
    body = await submit(client, doc, prompt_id="half")
    assert list(body["node_errors"]) == ["3"]
    await finished(client, "half")
    entry = (await (await client.get("/history/half")).json())["half"]
    assert entry["prompt"][4] == ["2"] and list(entry["outputs"]) == ["2"]


async def test_numbers_counter_front_and_explicit(client: TestClient) -> None:
    busy = await submit(client, sleep_workflow(10), prompt_id="busy")
    await started(client, "busy")
    a = await submit(client, save_workflow(), prompt_id="a")
    b = await submit(client, save_workflow(), prompt_id="b", front=True)
    c = await submit(client, save_workflow(), prompt_id="c", number=0.5)
    assert (busy["number"], a["number"], b["number"], c["number"]) == (1, 2, -3, 0.5)
    queue = await (await client.get("/queue")).json()
    assert [item[1] for item in queue["queue_running"]] == ["busy"]
    assert [item[1] for item in queue["queue_pending"]] == ["b", "c", "a"]
    assert all(len(item) == 5 for item in queue["queue_pending"])
    assert await (await client.get("/prompt")).json() == {"exec_info": {"queue_remaining": 4}}
    resp = await client.post("/queue", json={"delete": ["c"]})
    assert resp.status == 200 and await resp.read() == b""
    queue = await (await client.get("/api/queue")).json()
    assert [item[1] for item in queue["queue_pending"]] == ["b", "a"]
    await client.post("/queue", json={"clear": True})
    assert (await (await client.get("/queue")).json())["queue_pending"] == []
    await client.post("/interrupt", json={"prompt_id": "busy"})
    job = await finished(client, "busy")
    assert job.status == "cancelled"
    entry = (await (await client.get("/history/busy")).json())["busy"]
    assert entry["status"]["status_str"] == "error" and entry["status"]["completed"] is False
    assert entry["status"]["messages"][-1][0] == "execution_interrupted"


async def test_history_paging_and_deletion(client: TestClient) -> None:
    for i in range(4):
        await submit(client, chain_workflow(1), prompt_id=f"h{i}")
    for i in range(4):
        await finished(client, f"h{i}")
    assert list(await (await client.get("/history")).json()) == ["h0", "h1", "h2", "h3"]
    assert list(await (await client.get("/history?max_items=2")).json()) == ["h2", "h3"]
    assert list(await (await client.get("/history?max_items=2&offset=1")).json()) == ["h1", "h2"]
    assert list(await (await client.get("/history?offset=3")).json()) == ["h3"]
    assert (await client.get("/history?max_items=x")).status == 400
    assert await (await client.get("/history/unknown")).json() == {}
    await client.post("/history", json={"delete": ["h1"]})
    assert list(await (await client.get("/history")).json()) == ["h0", "h2", "h3"]
    await client.post("/api/history", json={"clear": True})
    assert await (await client.get("/history")).json() == {}


async def test_history_of_an_unfinished_prompt_is_empty(client: TestClient) -> None:
    await submit(client, sleep_workflow(10), prompt_id="slow")
    await started(client, "slow")
    assert await (await client.get("/history/slow")).json() == {}
    await client.post("/interrupt")
    await finished(client, "slow")
    assert "slow" in await (await client.get("/history/slow")).json()


async def test_sensitive_extra_data_never_shown_but_reaches_nodes(client: TestClient) -> None:
    extra = {"auth_token_comfy_org": "secret-1", "api_key_comfy_org": "secret-2", "extra_pnginfo": {"workflow": {"id": "wf"}}}
    await submit(client, sleep_workflow(10), prompt_id="s1", extra_data=extra)
    await started(client, "s1")
    await submit(client, save_workflow(), prompt_id="s2", extra_data=extra)
    assert client.app[WORKER].secrets["s2"] == {"auth_token_comfy_org": "secret-1", "api_key_comfy_org": "secret-2"}
    queue_text = await (await client.get("/queue")).text()
    jobs_text = await (await client.get("/api/jobs/s2")).text()
    await client.post("/interrupt")
    await finished(client, "s2")
    history_text = await (await client.get("/history")).text()
    for text in (queue_text, jobs_text, history_text):
        assert "secret-" not in text and "auth_token_comfy_org" not in text
    db = (client.app[QUEUE].path).read_bytes()
    assert b"secret-" not in db


async def test_duplicate_prompt_id_of_a_live_job_is_refused(client: TestClient) -> None:
    await submit(client, sleep_workflow(10), prompt_id="dup")
    await started(client, "dup")
    resp = await client.post("/prompt", json={"prompt": save_workflow(), "prompt_id": "dup"})
    assert resp.status == 400 and (await resp.json())["error"]["type"] == "duplicate_prompt_id"
    await client.post("/interrupt")
    await finished(client, "dup")
    await submit(client, chain_workflow(1), prompt_id="dup")  # a finished one is replaced, as in ComfyUI
    await finished(client, "dup")
    assert (await (await client.get("/history/dup")).json())["dup"]["outputs"] == {"out": {"text": ["1"]}}


async def test_jobs_listing_filters_sorting_and_paging(client: TestClient) -> None:
    extra = {"extra_pnginfo": {"workflow": {"id": "wf-1"}}}
    await submit(client, save_workflow(), prompt_id="j1", extra_data=extra)
    await finished(client, "j1")
    await submit(client, {"1": {"class_type": "FailToy", "inputs": {}},
                          "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}, prompt_id="j2")
    await finished(client, "j2")
    await submit(client, sleep_workflow(10), prompt_id="j3")
    await started(client, "j3")
    await submit(client, save_workflow(), prompt_id="j4")
    body = await (await client.get("/api/jobs")).json()
    assert {j["id"]: j["status"] for j in body["jobs"]} == {"j1": "completed", "j2": "failed", "j3": "in_progress",
                                                           "j4": "pending"}
    assert [j["id"] for j in body["jobs"]] == ["j4", "j3", "j2", "j1"]
    assert body["pagination"] == {"offset": 0, "limit": None, "total": 4, "has_more": False}
    j1 = next(j for j in body["jobs"] if j["id"] == "j1")
    assert j1["workflow_id"] == "wf-1" and j1["outputs_count"] == 1
    assert j1["preview_output"] == {"filename": "toy_00001_.png", "subfolder": "", "type": "output", "nodeId": "2",
                                    "mediaType": "images"}
    j2 = next(j for j in body["jobs"] if j["id"] == "j2")
    assert j2["execution_error"]["exception_message"] == "toy failure"
    page = await (await client.get("/api/api/jobs?status=completed,failed&sort_order=asc&limit=1&offset=1")).json()
    assert [j["id"] for j in page["jobs"]] == ["j2"] and page["pagination"]["has_more"] is False
    assert page["pagination"]["total"] == 2
    wf = await (await client.get("/api/jobs?workflow_id=wf-1")).json()
    assert [j["id"] for j in wf["jobs"]] == ["j1"]
    for bad in ("status=bogus", "sort_by=name", "sort_order=up", "limit=0", "offset=-1", "limit=x"):
        resp = await client.get(f"/api/jobs?{bad}")
        assert resp.status == 400 and "error" in await resp.json(), bad
    detail = await (await client.get("/api/jobs/j1")).json()
    assert detail["workflow"]["prompt"] == save_workflow() and detail["outputs"]["2"]["images"]
    assert detail["execution_status"]["status_str"] == "success"
    resp = await client.get("/api/jobs/nope")
    assert resp.status == 404 and await resp.json() == {"error": "Job not found"}
    await client.post("/interrupt")


async def test_cancel_by_id_pending_running_terminal_unknown(client: TestClient) -> None:
    await submit(client, sleep_workflow(10), prompt_id="run")
    await started(client, "run")
    await submit(client, save_workflow(), prompt_id="wait")
    resp = await client.post("/api/jobs/wait/cancel")
    assert await resp.json() == {"id": "wait", "cancelled": "pending"}
    assert (await finished(client, "wait")).status == "cancelled"
    resp = await client.post("/api/jobs/run/cancel")
    assert await resp.json() == {"id": "run", "cancelled": "running"}
    assert (await finished(client, "run")).status == "cancelled"
    assert await (await client.post("/api/jobs/run/cancel")).json() == {"id": "run", "cancelled": "terminal"}
    assert (await client.post("/api/jobs/zzz/cancel")).status == 404
    statuses = {j["id"]: j["status"] for j in (await (await client.get("/api/jobs")).json())["jobs"]}
    assert statuses == {"run": "cancelled", "wait": "cancelled"}
    assert list(await (await client.get("/history")).json()) == ["run"]  # "wait" never ran


async def test_interrupt_other_prompt_id_is_a_no_op_and_bad_body_is_global(client: TestClient) -> None:
    await submit(client, sleep_workflow(10), prompt_id="keep")
    await started(client, "keep")
    resp = await client.post("/interrupt", json={"prompt_id": "other"})
    assert resp.status == 200
    assert client.app[WORKER].current is not None and not client.app[WORKER].current.token.cancelled
    resp = await client.post("/interrupt", data=b"{not json")
    assert resp.status == 200
    assert (await finished(client, "keep")).status == "cancelled"


async def test_free_drops_cached_results(client: TestClient) -> None:
    await submit(client, chain_workflow(3), prompt_id="f1")
    await finished(client, "f1")
    runtime = client.app[WORKER].runtime
    assert len(runtime.engine.cache) > 0
    resp = await client.post("/free", json={"unload_models": True, "free_memory": True})
    assert resp.status == 200 and await resp.read() == b""
    await submit(client, chain_workflow(1), prompt_id="f2")  # /free applies before the next run at the latest
    await finished(client, "f2")
    job = await finished(client, "f2")
    cached = [m for m in job.status_info["messages"] if m[0] == "execution_cached"][0][1]["nodes"]
    assert cached == []
    assert (await client.post("/free", data=b"[1]")).status == 400


async def test_run_error_is_recorded(client: TestClient) -> None:
    doc = {"1": {"class_type": "FailToy", "inputs": {"message": "boom"}},
           "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    await submit(client, doc, prompt_id="err")
    job = await finished(client, "err")
    assert job.status == "failed"
    error = job.status_info["messages"][-1]
    assert error[0] == "execution_error"
    assert error[1]["exception_type"] == "RuntimeError" and error[1]["node_id"] == "1"
    assert error[1]["node_type"] == "FailToy" and error[1]["traceback"]


@pytest.mark.parametrize("method, path, data", [
    ("POST", "/prompt", b"[1, 2]"),
    ("POST", "/prompt", b'{"prompt": {}, "extra_data": 5}'),
    ("POST", "/prompt", b'{"prompt": {}, "number": "x"}'),
    ("POST", "/prompt", b'{"prompt": {}, "partial_execution_targets": "3"}'),
    ("POST", "/prompt", b'{"prompt": {"1": {"class_type": "IntAdd"}}, "number": 1e999}'),
    ("POST", "/queue", b'{"delete": "abc"}'),
    ("POST", "/history", b'{"delete": [{"a": 1}]}'),
    ("POST", "/queue", b"\xff\xfe"),
    ("POST", "/run", b'{"prompt": {}, "timeout": -1}'),
    ("GET", "/history?offset=abc", None),
])
async def test_bad_input_is_a_400_with_a_json_error(client: TestClient, method: str, path: str, data: Any) -> None:
    resp = await client.request(method, path, data=data)
    assert resp.status == 400, await resp.text()
    assert resp.content_type == "application/json" and "error" in await resp.json()


async def test_unknown_route_wrong_method_and_plain_get_on_ws_are_json(client: TestClient) -> None:
    resp = await client.get("/no/such/route")
    assert resp.status == 404 and await resp.json() == {"error": "Not Found"}
    resp = await client.delete("/prompt")
    assert resp.status == 405 and "error" in await resp.json() and "POST" in resp.headers["Allow"]
    resp = await client.get("/ws")
    assert resp.status == 400 and "error" in await resp.json()
    resp = await client.post("/prompt", data=b"[" * 100_000 + b"]" * 100_000)
    assert resp.status == 400 and "error" in await resp.json()


async def test_server_keeps_serving_after_many_bad_requests(client: TestClient) -> None:
    bodies = [b"", b"null", b"{", b'{"prompt": null}', b'{"prompt": 5}', b'{"prompt": {"1": []}}', b"\x00" * 10]
    responses = await asyncio.gather(*(client.post("/prompt", data=b) for b in bodies))
    assert all(r.status == 400 for r in responses)
    assert (await client.get("/prompt")).status == 200


async def test_a_worker_failure_outside_the_engine_is_recorded(client: TestClient) -> None:
    from concurrent.futures import ThreadPoolExecutor

    broken = ThreadPoolExecutor(max_workers=1)
    broken.shutdown()
    client.app[WORKER].engine_thread = broken  # scheduling the run now raises RuntimeError
    await submit(client, save_workflow(), prompt_id="w")
    job = await finished(client, "w")
    assert job.status == "failed"
    error = job.status_info["messages"][-1][1]
    assert error["exception_type"] == "latentloom.RuntimeError"
    assert client.app[WORKER].current is None
