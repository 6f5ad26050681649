"""Workflows embedded in PNG images: SaveImage -> PNG -> ``latentloom run image.png``, ComfyUI's chunks, the route."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import FormData

from nodes.runtime import Runtime
from server.app import create_app
from tests.workflows.conftest import CliRun, png_chunks, pixels, write_json
from tests.workflows.ui_docs import UiGraph


def image_ui() -> dict[str, Any]:
    """EmptyImage -> ImageInvert -> SaveImage, as the editor saves it."""
    g = UiGraph()
    g.node(1, "EmptyImage", [8, 6, 1, 0x204080], outputs=["IMAGE"])
    g.node(2, "ImageInvert", inputs=[("image", "IMAGE")], outputs=["IMAGE"])
    g.node(3, "SaveImage", ["round"], inputs=[("images", "IMAGE")])
    g.link(1, 0, 2, 0)
    g.link(2, 0, 3, 0)
    return g.doc(0.4)


def comfy_png(path: Path, **chunks: Any) -> Path:
    """A PNG with text chunks written the way ComfyUI's SaveImage writes them (json.dumps, tEXt)."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for key, value in chunks.items():
        info.add_text(key, json.dumps(value))
    Image.new("RGB", (4, 4), (9, 9, 9)).save(path, pnginfo=info, compress_level=4)
    return path


def test_save_then_rerun_the_png(tmp_path: Path, cli: CliRun) -> None:
    ui = image_ui()
    code, _, err = cli("run", write_json(tmp_path / "ui.json", ui), "--base-dir", tmp_path, "-q")
    assert code == 0, err
    first = tmp_path / "output" / "round_00001_.png"
    chunks = png_chunks(first)
    assert chunks["workflow"] == ui  # the UI graph rides along, as in the editor
    assert chunks["prompt"]["2"]["class_type"] == "ImageInvert"

    code, out, err = cli("run", first, "--base-dir", tmp_path, "-q")
    assert code == 0, err
    second = tmp_path / "output" / "round_00002_.png"
    assert f"wrote {second}" in out
    assert pixels(second) == pixels(first)
    assert png_chunks(second) == chunks
    code, out, _ = cli("validate", first, "--base-dir", tmp_path)
    assert code == 0 and "ok (png:prompt" in out


def test_comfyui_pngs_prompt_chunk_first_then_workflow(tmp_path: Path, cli: CliRun) -> None:
    from graph.ui_format import convert_ui
    from nodes.registry import default_registry

    ui = image_ui()
    api = convert_ui(ui, default_registry(entry_points=False)[0])
    api["1"]["inputs"]["color"] = 0xFFFFFF  # the prompt chunk is what ran: it wins over the workflow
    both = comfy_png(tmp_path / "ComfyUI_00001_.png", prompt=api, workflow=ui)
    code, _, err = cli("run", both, "--base-dir", tmp_path, "-q")
    assert code == 0, err
    assert set(pixels(tmp_path / "output" / "round_00001_.png")) == {(0, 0, 0)}  # white, inverted

    only_ui = comfy_png(tmp_path / "ui_only.png", workflow=ui)
    code, _, err = cli("run", only_ui, "--base-dir", tmp_path, "-q")
    assert code == 0, err
    [pixel] = set(pixels(tmp_path / "output" / "round_00002_.png"))
    assert all(abs(a - b) <= 1 for a, b in zip(pixel, (255 - 0x20, 255 - 0x40, 255 - 0x80), strict=True))


def test_compressed_text_chunks_are_read(tmp_path: Path, cli: CliRun) -> None:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_itxt("workflow", json.dumps(image_ui()), zip=True)
    Image.new("RGB", (2, 2)).save(tmp_path / "z.png", pnginfo=info)
    code, _, err = cli("run", tmp_path / "z.png", "--base-dir", tmp_path, "-q")
    assert code == 0, err


def test_png_without_a_workflow(tmp_path: Path, cli: CliRun) -> None:
    from PIL import Image

    Image.new("RGB", (2, 2)).save(tmp_path / "plain.png")
    code, _, err = cli("run", tmp_path / "plain.png", "--base-dir", tmp_path)
    assert code == 2 and "holds no workflow" in err and "'prompt' or 'workflow' text chunk" in err


async def test_png_route_returns_the_embedded_workflow(aiohttp_client: Any, make_runtime: Callable[..., Runtime],
                                                      tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(make_runtime(tmp_path)))
    ui = image_ui()
    form = FormData()
    form.add_field("image", comfy_png(tmp_path / "a.png", workflow=ui).read_bytes(), filename="a.png",
                   content_type="image/png")
    body = await (await client.post("/api/workflows/from_png", data=form)).json()
    assert body["source"] == "workflow" and body["workflow"] == ui
    assert body["prompt"]["3"]["inputs"] == {"filename_prefix": "round", "images": ["2", 0]}

    raw = comfy_png(tmp_path / "b.png", prompt={"1": {"class_type": "PrimitiveInt", "inputs": {"value": 3}}}).read_bytes()
    body = await (await client.post("/workflows/from_png", data=raw, headers={"Content-Type": "image/png"})).json()
    assert body == {"prompt": {"1": {"class_type": "PrimitiveInt", "inputs": {"value": 3}}}, "workflow": None,
                    "source": "prompt"}

    resp = await client.post("/workflows/from_png", data=b"GIF89a", headers={"Content-Type": "image/gif"})
    assert resp.status == 400 and "not a PNG image" in (await resp.json())["error"]["explanation"]


def test_png_text_reader_refuses_other_files() -> None:
    import pytest

    from nodes.workflow_files import png_text

    with pytest.raises(ValueError, match="not a PNG"):
        png_text(b"\xff\xd8\xff")
    buf = io.BytesIO()
    from PIL import Image

    Image.new("L", (1, 1)).save(buf, format="PNG")
    assert png_text(buf.getvalue()) == {}
