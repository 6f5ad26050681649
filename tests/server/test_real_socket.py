"""Over a real socket on 127.0.0.1, the way ComfyUI's script examples talk to a server: urllib with no
Content-Type, a plain websocket client, the completion signal, /history and /view."""

from __future__ import annotations

import asyncio
import io
import json
import urllib.parse
import urllib.request
import uuid
from typing import Any

from PIL import Image

from server.app import create_app
from tests.server.conftest import save_workflow
from tests.server.plain_ws import PlainWebSocket


def _get(base: str, path: str) -> bytes:
    with urllib.request.urlopen(base + path, timeout=10) as resp:
        return resp.read()


def script_example(host: str, port: int) -> tuple[list[str], dict[str, Any], list[bytes]]:
    """websockets_api_example.py's flow; returns (message types seen, history entry, image bytes)."""
    base = f"http://{host}:{port}"
    client_id, prompt_id = str(uuid.uuid4()), str(uuid.uuid4())
    ws = PlainWebSocket(host, port, f"/ws?clientId={client_id}")
    body = json.dumps({"prompt": save_workflow(77), "client_id": client_id, "prompt_id": prompt_id}).encode()
    urllib.request.urlopen(urllib.request.Request(base + "/prompt", data=body), timeout=10).read()  # no Content-Type
    seen = []
    while True:
        out = ws.recv()
        if isinstance(out, str):
            message = json.loads(out)
            seen.append(message["type"])
            if message["type"] == "executing" and message["data"]["node"] is None \
                    and message["data"]["prompt_id"] == prompt_id:
                break
    entry = json.loads(_get(base, f"/history/{prompt_id}"))[prompt_id]
    images = []
    for node_output in entry["outputs"].values():
        for image in node_output.get("images", []):
            images.append(_get(base, "/view?" + urllib.parse.urlencode(image)))
    ws.close()
    return seen, entry, images


def ws_images_example(host: str, port: int) -> list[bytes]:
    """websockets_api_example_ws_images.py's flow: previews taken as frame[8:] while a node runs."""
    base = f"http://{host}:{port}"
    client_id = str(uuid.uuid4())
    ws = PlainWebSocket(host, port, f"/ws?clientId={client_id}")
    doc = {"save_image_websocket_node": {"class_type": "ProgressToy", "inputs": {"steps": 2}},
           "out": {"class_type": "PreviewAny", "inputs": {"source": ["save_image_websocket_node", 0]}}}
    req = urllib.request.Request(base + "/prompt", data=json.dumps({"prompt": doc, "client_id": client_id}).encode())
    prompt_id = json.loads(urllib.request.urlopen(req, timeout=10).read())["prompt_id"]
    frames, current = [], ""
    while True:
        out = ws.recv()
        if isinstance(out, str):
            message = json.loads(out)
            if message["type"] == "executing":
                data = message["data"]
                if data["prompt_id"] == prompt_id:  # every executing payload carries prompt_id
                    if data["node"] is None:
                        break
                    current = data["node"]
        elif current == "save_image_websocket_node":
            frames.append(out[8:])
    ws.close()
    return frames


async def test_script_examples_over_a_real_socket(aiohttp_server: Any, runtime: Any) -> None:
    server = await aiohttp_server(create_app(runtime), host="127.0.0.1")
    seen, entry, images = await asyncio.to_thread(script_example, "127.0.0.1", server.port)
    assert seen[0] == "status" and seen[-1] == "executing" and "execution_success" in seen
    assert entry["status"]["status_str"] == "success"
    assert len(images) == 1 and Image.open(io.BytesIO(images[0])).getpixel((0, 0)) == (77, 77, 77)
    frames = await asyncio.to_thread(ws_images_example, "127.0.0.1", server.port)
    assert len(frames) == 2 and all(Image.open(io.BytesIO(f)).format == "JPEG" for f in frames)
