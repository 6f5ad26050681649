"""object_info, system_stats, features, GET /prompt; and `import server` stays light."""

from __future__ import annotations

import subprocess
import sys

from aiohttp.test_utils import TestClient

from nodes.cli import build_parser
from server.cli import config_from_args, settings_from_args


async def test_object_info_all_and_one(client: TestClient) -> None:
    info = await (await client.get("/object_info")).json()
    assert {"IntAdd", "PreviewAny", "SaveToyImage"} <= set(info)
    entry = info["SaveToyImage"]
    assert entry["output_node"] is True and entry["name"] == "SaveToyImage"
    assert list(entry)[:11] == ["input", "input_order", "output", "output_is_list", "output_name", "name",
                                "display_name", "description", "python_module", "category", "output_node"]
    assert entry["input"]["hidden"] == {"prompt": "PROMPT"}
    one = await (await client.get("/api/object_info/IntAdd")).json()
    assert list(one) == ["IntAdd"] and one["IntAdd"] == info["IntAdd"]
    assert await (await client.get("/object_info/Nope")).json() == {}


async def test_system_stats_shape_without_importing_torch(client: TestClient) -> None:
    stats = await (await client.get("/system_stats")).json()
    system = stats["system"]
    assert system["os"] == sys.platform and system["ram_total"] >= system["ram_free"] > 0
    assert {"comfyui_version", "python_version", "pytorch_version", "embedded_python", "argv"} <= set(system)
    device = stats["devices"][0]
    assert {"name", "type", "index", "vram_total", "vram_free", "torch_vram_total", "torch_vram_free"} <= set(device)


def test_import_server_imports_neither_torch_nor_aiohttp() -> None:
    code = ("import sys, server; assert 'torch' not in sys.modules and 'aiohttp' not in sys.modules;"
            "import server.app, server.cli; assert 'torch' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_serve_flags_map_to_settings_and_config(tmp_path: object) -> None:
    args = build_parser().parse_args([
        "serve", "--listen", "--port", "9000", "--cpu", "--cache-lru", "8", "--output-directory", "/tmp/o",
        "--input-directory", "/tmp/i", "--preview-method", "taesd", "--max-upload-size", "5",
        "--enable-cors-header", "--api-key", "k", "--on-restart", "fail", "--base-dir", str(tmp_path)])
    assert (args.listen, args.port) == ("0.0.0.0,::", 9000)
    settings = settings_from_args(args)
    assert (settings.cache, settings.cache_lru, settings.output_dir, settings.input_dir) == ("lru", 8, "/tmp/o", "/tmp/i")
    assert settings.preview_method == "taesd" and settings.extra["cpu"] is True and settings.extra["vram_mode"] == "cpu"
    config = config_from_args(args, ["latentloom", "serve"])
    assert (config.api_key, config.cors_origin, config.max_upload_mb, config.on_restart) == ("k", "*", 5.0, "fail")
    lowvram = settings_from_args(build_parser().parse_args(["serve", "--lowvram", "--cache-none"]))
    assert lowvram.extra["vram_mode"] == "lowvram" and lowvram.cache == "none"
    default = build_parser().parse_args(["serve"])
    assert (default.listen, default.port, default.enable_cors_header) == ("127.0.0.1", 8188, None)
