"""The websocket: first status, routing, exact event order and payloads, previews, negotiation, reconnect."""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

import msgpack
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from server.state import HUB
from tests.server.conftest import Ws, chain_workflow, connect, finished, save_workflow, sleep_workflow, submit, types


async def test_first_message_is_status_with_sid(client: TestClient) -> None:
    ws = await client.ws_connect("/ws?clientId=abc")
    first = json.loads((await ws.receive()).data)
    assert first == {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "abc"}}
    ws2 = await client.ws_connect("/api/ws")
    data = json.loads((await ws2.receive()).data)["data"]
    assert len(data["sid"]) == 32  # a fresh uuid4 hex
    await ws.close()
    await ws2.close()


async def test_event_order_for_a_successful_prompt(client: TestClient) -> None:
    ws = await connect(client, "c1")
    await submit(client, save_workflow(5), prompt_id="p", client_id="c1")
    seen = await ws.until_done("p")
    assert types(seen) == [
        "status",  # queued
        "status",  # dequeued
        "execution_start", "execution_cached",
        "progress_state", "executing", "progress_state",  # node 1 (IntAdd)
        "progress_state", "executing", "executed", "progress_state",  # node 2 (SaveToyImage)
        "execution_success",
        "status",  # after history is written
        "executing",  # node: null
    ]
    assert all(m["data"].get("prompt_id") == "p" for m in seen if m["type"] != "status")
    executing = [m["data"] for m in seen if m["type"] == "executing"]
    assert executing == [{"node": "1", "display_node": "1", "prompt_id": "p"},
                         {"node": "2", "display_node": "2", "prompt_id": "p"}, {"node": None, "prompt_id": "p"}]
    executed = next(m["data"] for m in seen if m["type"] == "executed")
    assert executed == {"node": "2", "display_node": "2", "prompt_id": "p",
                        "output": {"images": [{"filename": "toy_00001_.png", "subfolder": "", "type": "output"}]}}
    assert [m["data"]["status"]["exec_info"]["queue_remaining"] for m in seen if m["type"] == "status"] == [1, 1, 0]
    # the completion signal comes after history is written: fetch it right away
    assert "p" in await (await client.get("/history/p")).json()
    await ws.close()


async def test_progress_state_carries_changed_and_running_nodes(client: TestClient) -> None:
    ws = await connect(client, "c1")
    await submit(client, save_workflow(5), prompt_id="p", client_id="c1")
    seen = await ws.until_done("p")
    states = [m["data"]["nodes"] for m in seen if m["type"] == "progress_state"]
    assert [{k: v["state"] for k, v in s.items()} for s in states] == [
        {"1": "running"}, {"1": "finished"}, {"2": "running"}, {"2": "finished"}]
    entry = states[0]["1"]
    assert entry == {"value": 0, "max": 1, "state": "running", "prompt_id": "p", "node_id": "1",
                     "display_node_id": "1", "parent_node_id": None, "real_node_id": "1"}


async def test_per_prompt_events_only_reach_the_submitter(client: TestClient) -> None:
    mine, other = await connect(client, "mine"), await connect(client, "other")
    await submit(client, save_workflow(), prompt_id="p", client_id="mine")
    await mine.until_done("p")
    await submit(client, save_workflow(), prompt_id="q", client_id="other")
    seen = await other.until_done("q")
    assert {m["data"].get("prompt_id") for m in seen if m["type"] != "status"} == {"q"}
    await mine.close()
    await other.close()


async def test_no_client_id_gets_status_and_progress_but_no_execution_events(client: TestClient) -> None:
    ws = await connect(client, "watcher")
    await submit(client, {"1": {"class_type": "ProgressToy", "inputs": {"steps": 2}},
                          "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}, prompt_id="anon")
    await finished(client, "anon")
    await submit(client, save_workflow(), prompt_id="mark", client_id="watcher")
    await ws.until_done("mark")
    anon = [m for m in ws.seen if not isinstance(m, dict) or m["data"].get("prompt_id") == "anon"]
    assert set(types(anon)) == {"progress", "progress_state", "binary:1"}
    await ws.close()


async def test_progress_and_legacy_previews(client: TestClient) -> None:
    ws = await connect(client, "c1")
    doc = {"1": {"class_type": "ProgressToy", "inputs": {"steps": 3, "value": 4}},
           "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    await submit(client, doc, prompt_id="p", client_id="c1")
    seen = await ws.until_done("p")
    progress = [m["data"] for m in seen if isinstance(m, dict) and m["type"] == "progress"]
    assert progress == [{"value": i, "max": 3, "prompt_id": "p", "node": "1"} for i in (1, 2, 3)]
    frames = [m for m in seen if isinstance(m, bytes)]
    assert len(frames) == 3
    for frame in frames:
        assert struct.unpack(">II", frame[:8]) == (1, 1)  # PREVIEW_IMAGE, JPEG
        assert frame[8:10] == b"\xff\xd8"
    # a frame follows its progress message, while node 1 runs
    order = types(seen)
    assert order.index("binary:1") > order.index("progress")
    await ws.close()


async def test_feature_flags_and_type4_previews(client: TestClient) -> None:
    ws = await connect(client, "c1")
    await ws.ws.send_str(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
    answer = await ws.until("feature_flags")
    assert answer["data"] == {"supports_preview_metadata": True, "max_upload_size": 104857600.0,
                              "supports_msgpack": True}
    assert await (await client.get("/features")).json() == answer["data"]
    doc = {"1": {"class_type": "ProgressToy", "inputs": {"steps": 1}},
           "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    await submit(client, doc, prompt_id="p", client_id="c1")
    seen = await ws.until_done("p")
    frame = next(m for m in seen if isinstance(m, bytes))
    kind, size = struct.unpack(">II", frame[:8])
    meta = json.loads(frame[8:8 + size])
    assert kind == 4
    assert meta == {"node_id": "1", "prompt_id": "p", "display_node_id": "1", "parent_node_id": None,
                    "real_node_id": "1", "image_type": "image/jpeg"}
    assert frame[8 + size:8 + size + 2] == b"\xff\xd8"
    await ws.close()


async def test_feature_flags_only_count_as_first_message(client: TestClient) -> None:
    ws = await connect(client, "c1")
    await ws.ws.send_str("hello")
    await ws.ws.send_str(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
    await submit(client, save_workflow(), prompt_id="p", client_id="c1")
    seen = await ws.until_done("p")
    assert "feature_flags" not in types(seen)
    await ws.close()


async def test_msgpack_mode_carries_events_and_previews(client: TestClient) -> None:
    raw = await client.ws_connect("/ws?clientId=mp")
    assert json.loads((await raw.receive()).data)["type"] == "status"
    await raw.send_str(json.dumps({"type": "feature_flags", "data": {"supports_msgpack": True}}))
    answer = await raw.receive()
    assert answer.type == WSMsgType.TEXT and json.loads(answer.data)["type"] == "feature_flags"
    doc = {"1": {"class_type": "ProgressToy", "inputs": {"steps": 1}},
           "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    await submit(client, doc, prompt_id="p", client_id="mp")
    messages: list[dict[str, Any]] = []
    while True:
        msg = await raw.receive(timeout=10)
        assert msg.type == WSMsgType.BINARY
        item = msgpack.unpackb(msg.data)
        messages.append(item)
        if item["type"] == "executing" and item["data"]["node"] is None:
            break
    kinds = [m["type"] for m in messages]
    assert "preview_image" in kinds and "execution_success" in kinds
    preview = next(m["data"] for m in messages if m["type"] == "preview_image")
    assert preview["node_id"] == "1" and preview["image_type"] == "image/jpeg" and preview["image"][:2] == b"\xff\xd8"
    await raw.close()


async def test_error_payload_and_completion(client: TestClient) -> None:
    ws = await connect(client, "c1")
    doc = {"1": {"class_type": "IntAdd", "inputs": {"a": 1}},
           "2": {"class_type": "FailToy", "inputs": {"value": ["1", 0], "message": "bad"}},
           "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}}}
    await submit(client, doc, prompt_id="e", client_id="c1")
    seen = await ws.until_done("e")
    assert types(seen)[-4:] == ["progress_state", "execution_error", "status", "executing"]
    error = next(m["data"] for m in seen if m["type"] == "execution_error")
    assert set(error) == {"prompt_id", "node_id", "node_type", "executed", "exception_message", "exception_type",
                          "traceback", "current_inputs", "current_outputs", "timestamp"}
    assert (error["node_id"], error["node_type"], error["exception_message"]) == ("2", "FailToy", "bad")
    assert error["exception_type"] == "RuntimeError" and error["executed"] == ["1"]
    assert error["current_inputs"]["value"] == [1]
    last_state = [m for m in seen if m["type"] == "progress_state"][-1]["data"]["nodes"]
    assert last_state["2"]["state"] == "error"
    entry = (await (await client.get("/history/e")).json())["e"]  # written before the completion signal
    assert entry["status"]["status_str"] == "error" and entry["status"]["messages"][-1][1] == error
    await ws.close()


async def test_interrupt_payload_and_completion(client: TestClient) -> None:
    ws = await connect(client, "c1")
    await submit(client, sleep_workflow(10), prompt_id="i", client_id="c1")
    await ws.until("executing", node="1")
    await client.post("/api/interrupt", json={"prompt_id": "i"})
    seen = await ws.until_done("i")
    interrupted = next(m["data"] for m in seen if m["type"] == "execution_interrupted")
    assert set(interrupted) == {"prompt_id", "node_id", "node_type", "executed", "timestamp"}
    assert (interrupted["node_id"], interrupted["node_type"]) == ("1", "SleepToy")
    assert types(seen)[-2:] == ["status", "executing"]
    entry = (await (await client.get("/history/i")).json())["i"]  # written before the completion signal
    assert entry["status"] == {"status_str": "error", "completed": False, "messages": entry["status"]["messages"]}
    assert entry["status"]["messages"][-1] == ["execution_interrupted", interrupted]
    await ws.close()


async def test_reconnect_replays_the_running_node(client: TestClient) -> None:
    ws = await connect(client, "again")
    await submit(client, sleep_workflow(10), prompt_id="r", client_id="again")
    await ws.until("executing", node="1")
    await ws.close()
    raw = await client.ws_connect("/ws?clientId=again")
    assert json.loads((await raw.receive()).data)["type"] == "status"
    assert json.loads((await raw.receive()).data) == {"type": "executing", "data": {"node": "1"}}
    await client.post("/interrupt")
    again = Ws(raw)
    await again.until_done("r")
    await raw.close()


async def test_a_newer_socket_with_the_same_id_replaces_the_older(client: TestClient) -> None:
    old = await connect(client, "same")
    new = await connect(client, "same")
    await old.close()  # the old one's exit must not unregister the new one
    assert "same" in client.app[HUB].connections
    await submit(client, save_workflow(), prompt_id="p", client_id="same")
    await new.until_done("p")
    await new.close()


async def test_cached_outputs_are_announced_again(client: TestClient) -> None:
    ws = await connect(client, "c1")
    await submit(client, save_workflow(5), prompt_id="a", client_id="c1")
    await ws.until_done("a")
    await submit(client, save_workflow(5), prompt_id="b", client_id="c1")
    seen = await ws.until_done("b")
    assert types(seen) == ["status", "status", "execution_start", "execution_cached", "executed", "execution_success",
                           "status", "executing"]
    assert seen[3]["data"]["nodes"] == ["2"]  # the cached output; the engine does not visit its ancestors
    assert seen[4]["data"]["output"]["images"][0]["filename"] == "toy_00001_.png"
    await ws.close()


async def test_bytes_per_node_on_a_chain_stay_small(client: TestClient) -> None:
    ws = await connect(client, "c1")
    await submit(client, chain_workflow(50), prompt_id="chain", client_id="c1")
    seen = await ws.until_done("chain")
    size = sum(len(json.dumps(m, separators=(",", ":"))) for m in seen)
    assert size / 51 < 1200, size / 51  # ComfyUI: about 40 kB per node on a 200-node chain
    await ws.close()


async def test_shutdown_closes_sockets_going_away(aiohttp_client: Any, runtime: Any) -> None:
    from server.app import create_app

    app = create_app(runtime)
    test_client = await aiohttp_client(app)
    ws = await test_client.ws_connect("/ws")
    await ws.receive()
    closing = asyncio.ensure_future(test_client.server.close())
    msg = await ws.receive()
    await closing
    assert msg.type == WSMsgType.CLOSE and msg.data == 1001  # GOING_AWAY
