"""/view, uploads, model lists and view_metadata, including every traversal attempt we could think of."""

from __future__ import annotations

import io
import json
import os
import struct
from pathlib import Path

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from PIL import Image, PngImagePlugin

from nodes.runtime import Runtime
from tests.server.conftest import finished, save_workflow, submit


def png(color: tuple[int, ...] = (255, 0, 0, 128), size: tuple[int, int] = (4, 4), text: dict[str, str] | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    buf = io.BytesIO()
    Image.new("RGBA", size, color).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def form(data: bytes, name: str = "a.png", **fields: str) -> FormData:
    f = FormData()
    f.add_field("image", data, filename=name, content_type="image/png")
    for k, v in fields.items():
        f.add_field(k, v)
    return f


async def test_view_serves_an_output_written_by_a_node(client: TestClient, runtime: Runtime) -> None:
    await submit(client, save_workflow(200, subfolder="sub"), prompt_id="v")
    job = await finished(client, "v")
    image = job.outputs["2"]["images"][0]
    assert image == {"filename": "toy_00001_.png", "subfolder": "sub", "type": "output"}
    assert (runtime.folders.output / "sub" / "toy_00001_.png").is_file()
    for prefix in ("", "/api"):
        resp = await client.get(f"{prefix}/view", params=image)
        assert resp.status == 200 and resp.content_type == "image/png"
        assert resp.headers["Content-Disposition"] == 'filename="toy_00001_.png"'
        loaded = Image.open(io.BytesIO(await resp.read()))
        assert loaded.getpixel((0, 0)) == (200, 200, 200)
        assert json.loads(loaded.text["prompt"])["2"]["class_type"] == "SaveToyImage"


async def test_view_preview_and_channels(client: TestClient, runtime: Runtime) -> None:
    runtime.folders.input.mkdir(parents=True, exist_ok=True)
    (runtime.folders.input / "rgba.png").write_bytes(png((10, 20, 30, 40)))
    base = {"filename": "rgba.png", "type": "input"}
    resp = await client.get("/view", params={**base, "preview": "webp;80"})
    assert resp.content_type == "image/webp" and Image.open(io.BytesIO(await resp.read())).format == "WEBP"
    resp = await client.get("/view", params={**base, "preview": "jpeg;50"})
    assert resp.content_type == "image/jpeg"
    rgb = Image.open(io.BytesIO(await (await client.get("/view", params={**base, "channel": "rgb"})).read()))
    assert rgb.mode == "RGB" and rgb.getpixel((0, 0)) == (10, 20, 30)
    alpha = Image.open(io.BytesIO(await (await client.get("/view", params={**base, "channel": "a"})).read()))
    assert alpha.mode == "RGBA" and alpha.getpixel((0, 0))[3] == 40
    for bad in ({"channel": "x"}, {"preview": "gif;5"}, {"preview": "webp;x"}):
        assert (await client.get("/view", params={**base, **bad})).status == 400
    (runtime.folders.input / "notes.txt").write_text("hi")
    assert (await client.get("/view", params={"filename": "notes.txt", "type": "input", "preview": "webp;90"})).status == 400


async def test_view_annotated_names_and_unsafe_content_types(client: TestClient, runtime: Runtime) -> None:
    runtime.folders.temp.mkdir(parents=True, exist_ok=True)
    (runtime.folders.temp / "page.html").write_text("<script>alert(1)</script>")
    resp = await client.get("/view", params={"filename": "page.html [temp]"})
    assert resp.status == 200 and resp.content_type == "application/octet-stream"


@pytest.mark.parametrize("params, status", [
    ({}, 400),
    ({"filename": ""}, 400),
    ({"filename": "../secret.txt"}, 400),
    ({"filename": "a/../../secret.txt"}, 400),
    ({"filename": "/etc/passwd"}, 400),
    ({"filename": "x.png", "type": "models"}, 400),
    ({"filename": "x.png", "type": "../output"}, 400),
    ({"filename": "secret.txt", "subfolder": ".."}, 403),
    ({"filename": "secret.txt", "subfolder": "../"}, 403),
    ({"filename": "passwd", "subfolder": "/etc"}, 403),
    ({"filename": "secret.txt", "subfolder": "a/../.."}, 403),
    ({"filename": "missing.png"}, 404),
    ({"filename": "missing.png", "subfolder": "nope"}, 404),
])
async def test_view_refuses_to_leave_its_folders(client: TestClient, runtime: Runtime, params: dict[str, str], status: int) -> None:
    (runtime.folders.base / "secret.txt").write_text("top secret")
    resp = await client.get("/view", params=params)
    assert resp.status == status, await resp.text()
    assert "top secret" not in await resp.text()
    assert "error" in await resp.json()


async def test_symlinks_that_leave_the_folder_are_refused(client: TestClient, runtime: Runtime, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret")
    out = runtime.folders.output
    out.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, out / "escape")
    os.symlink(outside / "secret.txt", out / "leak.txt")
    (out / "real.txt").write_text("fine")
    os.symlink(out / "real.txt", out / "inside.txt")
    assert (await client.get("/view", params={"filename": "secret.txt", "subfolder": "escape"})).status == 403
    assert (await client.get("/view", params={"filename": "leak.txt"})).status == 403
    resp = await client.get("/view", params={"filename": "inside.txt"})
    assert resp.status == 200 and await resp.text() == "fine"
    resp = await client.post("/upload/image", data=form(png(), type="output", subfolder="escape"))
    assert resp.status == 403
    assert not (outside / "a.png").exists()


async def test_upload_image_clash_rules(client: TestClient, runtime: Runtime) -> None:
    first = png((1, 2, 3, 255))
    resp = await client.post("/upload/image", data=form(first))
    assert await resp.json() == {"name": "a.png", "subfolder": "", "type": "input"}
    assert (runtime.folders.input / "a.png").read_bytes() == first
    resp = await client.post("/upload/image", data=form(first))  # same content: same name
    assert (await resp.json())["name"] == "a.png"
    second = png((9, 9, 9, 255))
    assert (await (await client.post("/upload/image", data=form(second))).json())["name"] == "a (1).png"
    assert (await (await client.post("/api/upload/image", data=form(png((8, 8, 8, 255))))).json())["name"] == "a (2).png"
    resp = await client.post("/upload/image", data=form(second, overwrite="true"))
    assert (await resp.json())["name"] == "a.png" and (runtime.folders.input / "a.png").read_bytes() == second
    resp = await client.post("/upload/image", data=form(first, type="temp", subfolder="x/y"))
    assert await resp.json() == {"name": "a.png", "subfolder": "x/y", "type": "temp"}
    assert (runtime.folders.temp / "x" / "y" / "a.png").is_file()


@pytest.mark.parametrize("name, fields, status", [
    ("../evil.png", {}, 400),
    ("..", {}, 400),
    ("sub/evil.png", {}, 400),
    ("a.png", {"subfolder": "../.."}, 400),
    ("a.png", {"subfolder": "/tmp"}, 400),
    ("a.png", {"type": "models"}, 400),
    ("", {}, 400),
])
async def test_upload_refuses_bad_names(client: TestClient, runtime: Runtime, name: str, fields: dict[str, str], status: int) -> None:
    body, content_type = raw_multipart(name, png(), fields)  # the file name exactly as given, not %-encoded
    resp = await client.post("/upload/image", data=body, headers={"Content-Type": content_type})
    assert resp.status == status, await resp.text()
    assert not (runtime.folders.base / "evil.png").exists()
    assert not (runtime.folders.input / "sub" / "evil.png").exists()


def raw_multipart(filename: str, data: bytes, fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = "llboundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"\r\n'
                 f"Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


async def test_upload_needs_a_multipart_file(client: TestClient) -> None:
    assert (await client.post("/upload/image", json={"image": "x"})).status == 400
    f = FormData()
    f.add_field("image", "just text")
    assert (await client.post("/upload/image", data=f)).status == 400


async def test_upload_too_large_is_413(make_client: object) -> None:
    client = await make_client(max_upload_mb=0.01)  # type: ignore[operator]
    resp = await client.post("/upload/image", data=form(b"x" * 20_000))
    assert resp.status == 413 and "error" in await resp.json()
    features = await (await client.get("/features")).json()
    assert features["max_upload_size"] == float(int(0.01 * 1024 * 1024))


async def test_upload_mask_applies_alpha_and_keeps_text(client: TestClient, runtime: Runtime) -> None:
    runtime.folders.output.mkdir(parents=True, exist_ok=True)
    (runtime.folders.output / "orig.png").write_bytes(png((50, 60, 70, 255), (8, 8), {"prompt": "{}"}))
    ref = json.dumps({"filename": "orig.png", "subfolder": "", "type": "output"})
    resp = await client.post("/upload/mask", data=form(png((0, 0, 0, 7), (4, 4)), name="mask.png", original_ref=ref))
    assert await resp.json() == {"name": "mask.png", "subfolder": "", "type": "input"}
    merged = Image.open(runtime.folders.input / "mask.png")
    assert merged.size == (8, 8) and merged.getpixel((0, 0)) == (50, 60, 70, 7)
    assert merged.text["prompt"] == "{}"
    bad_ref = json.dumps({"filename": "../../secret.png"})
    assert (await client.post("/upload/mask", data=form(png(), original_ref=bad_ref))).status == 400
    missing = json.dumps({"filename": "nope.png"})
    assert (await client.post("/upload/mask", data=form(png(), original_ref=missing))).status == 404
    assert (await client.post("/upload/mask", data=form(png(), original_ref="{"))).status == 400


async def test_models_embeddings_and_metadata(client: TestClient, runtime: Runtime) -> None:
    ckpts = runtime.folders.models / "checkpoints"
    (ckpts / "sd").mkdir(parents=True)
    header = json.dumps({"__metadata__": {"format": "pt", "title": "tiny"}}).encode()
    (ckpts / "sd" / "tiny.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    (ckpts / "broken.safetensors").write_bytes(b"\x01")
    emb = runtime.folders.models / "embeddings"
    emb.mkdir(parents=True)
    (emb / "easy.pt").write_bytes(b"")
    assert "checkpoints" in await (await client.get("/models")).json()
    assert await (await client.get("/api/models/checkpoints")).json() == ["broken.safetensors", "sd/tiny.safetensors"]
    assert (await client.get("/models/nonsense")).status == 404
    assert await (await client.get("/embeddings")).json() == ["easy"]
    meta = await client.get("/view_metadata/checkpoints", params={"filename": "sd/tiny.safetensors"})
    assert await meta.json() == {"format": "pt", "title": "tiny"}
    assert (await client.get("/view_metadata/checkpoints", params={"filename": "broken.safetensors"})).status == 404
    assert (await client.get("/view_metadata/checkpoints", params={"filename": "x.ckpt"})).status == 404
    assert (await client.get("/view_metadata/nonsense", params={"filename": "x.safetensors"})).status == 404
    resp = await client.get("/view_metadata/checkpoints", params={"filename": "../../../x.safetensors"})
    assert resp.status in (403, 404)


async def test_extensions_list_and_files(client: TestClient, runtime: Runtime, tmp_path: Path) -> None:
    web_dir = tmp_path / "pack_web"
    (web_dir / "js").mkdir(parents=True)
    (web_dir / "js" / "main.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("top secret")
    runtime.registry.add_web_directory("mypack", str(web_dir))
    assert await (await client.get("/extensions")).json() == ["/extensions/mypack/js/main.js"]
    resp = await client.get("/extensions/mypack/js/main.js")
    assert resp.status == 200 and await resp.text() == "console.log(1)"
    assert (await client.get("/extensions/mypack/%2E%2E/secret.txt")).status in (403, 404)
    assert (await client.get("/extensions/other/x.js")).status == 404


async def test_previews_go_to_temp_and_are_served_from_there(client: TestClient, runtime: Runtime) -> None:
    await submit(client, {"1": {"class_type": "PreviewToyImage", "inputs": {"value": 90}}}, prompt_id="pv")
    image = (await finished(client, "pv")).outputs["1"]["images"][0]
    assert image == {"filename": "preview_00001_.png", "subfolder": "", "type": "temp"}
    assert (runtime.folders.temp / "preview_00001_.png").is_file()
    assert not (runtime.folders.output / "preview_00001_.png").exists()
    resp = await client.get("/view", params=image)
    assert Image.open(io.BytesIO(await resp.read())).getpixel((0, 0)) == (90, 90, 90)
    assert (await client.get("/view", params={**image, "type": "output"})).status == 404
