"""The shipped workflows/: every file validates and runs end to end on tiny models; missing models are named."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nodes.runtime import Runtime
from nodes.workflow_files import describe_entry, library, read_workflow
from server.app import create_app
from tests.workflows.conftest import CHECKPOINT, LORA, WORKFLOWS, CliRun, png_chunks, pixels

FILES = sorted(WORKFLOWS.glob("*.json"))
NAMES = [p.stem for p in FILES]
#: Small values for a quick run on the tiny model, where the workflow has the parameter.
QUICK = {"steps": "3", "hires_steps": "2"}


def test_the_library_has_the_promised_workflows() -> None:
    assert {"txt2img", "img2img", "inpaint", "hires-fix", "lora", "upscale", "seed-sweep"} <= set(NAMES)


@pytest.mark.parametrize("path", FILES, ids=NAMES)
def test_every_workflow_validates(path: Path, tiny_base: Path, cli: CliRun) -> None:
    code, out, err = cli("validate", path, "--base-dir", tiny_base)
    assert code == 0, err
    assert f"{path}: ok" in out


@pytest.mark.parametrize("path", FILES, ids=NAMES)
def test_every_workflow_runs_end_to_end(path: Path, tiny_base: Path, cli: CliRun,
                                        make_runtime: Callable[..., Runtime]) -> None:
    loaded = read_workflow(path, make_runtime(tiny_base))
    quick = [f"{k}={v}" for k, v in QUICK.items() if any(p.name == k for p in loaded.parameters)]
    code, out, err = cli("run", path, "--base-dir", tiny_base, "-q", *(a for q in quick for a in ("--param", q)))
    assert code == 0, err
    written = [Path(line.rsplit(" wrote ", 1)[1]) for line in out.splitlines() if " wrote " in line]
    expected = 1 + (len(loaded.sweep["seed"]) if loaded.sweep else 0)
    if loaded.kind == "api" and loaded.prompt == json.loads((WORKFLOWS / "hello.json").read_text()):
        expected = 0
    assert len(written) == expected, out
    for image in written:
        assert image.is_file() and "prompt" in png_chunks(image)


def test_workflow_files_are_also_comfyui_post_bodies(make_runtime: Callable[..., Runtime], tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)
    for path in FILES:
        raw = json.loads(path.read_text())
        loaded = read_workflow(path, runtime)
        graph = raw.get("prompt", raw) if loaded.kind == "latentloom" else raw
        assert graph == loaded.prompt, f"{path.name}: the graph's values must be the parameters' defaults"
        assert loaded.kind == "api" or loaded.description, f"{path.name} has no description"


def test_txt2img_declares_its_parameters(make_runtime: Callable[..., Runtime], tmp_path: Path) -> None:
    loaded = read_workflow(WORKFLOWS / "txt2img.json", make_runtime(tmp_path))
    assert {"prompt", "negative", "seed", "steps", "width", "height"} <= {p.name for p in loaded.parameters}


def test_missing_models_name_the_file_and_its_folder(tiny_base: Path, tmp_path: Path, cli: CliRun) -> None:
    bare = tmp_path / "bare"
    (bare / "models" / "checkpoints").mkdir(parents=True)
    shutil.copy(tiny_base / "models" / "checkpoints" / CHECKPOINT, bare / "models" / "checkpoints" / CHECKPOINT)
    code, _, err = cli("validate", WORKFLOWS / "lora.json", "--base-dir", bare)
    assert code == 2
    assert f"the model file '{LORA}' is missing; put it in the loras folder ({bare.resolve() / 'models' / 'loras'})" in err
    assert "at /10/inputs/lora_name" in err
    assert LORA in json.loads((WORKFLOWS / "lora.json").read_text())["description"]

    code, _, err = cli("run", WORKFLOWS / "seed-sweep.json", "--base-dir", tmp_path / "empty")
    assert code == 2 and f"the model file '{CHECKPOINT}' is missing; put it in the checkpoints folder" in err


def test_png_round_trip_on_the_tiny_model(tiny_base: Path, cli: CliRun) -> None:
    path = WORKFLOWS / "seed-sweep.json"
    code, out, err = cli("run", path, "--base-dir", tiny_base, "-q", "--no-sweep", "--param", "seed=11", "--param", "steps=4")
    assert code == 0, err
    [first] = [Path(line.rsplit(" wrote ", 1)[1]) for line in out.splitlines()]
    code, out, err = cli("run", first, "--base-dir", tiny_base, "-q")
    assert code == 0, err
    [second] = [Path(line.rsplit(" wrote ", 1)[1]) for line in out.splitlines()]
    assert second != first and pixels(second) == pixels(first)
    assert png_chunks(second)["prompt"]["3"]["inputs"]["seed"] == 11


def test_seed_sweep_shares_the_loader_and_encoders(tiny_base: Path, make_runtime: Callable[..., Runtime]) -> None:
    from nodes.workflow_files import prepare

    runtime = make_runtime(tiny_base)
    loaded = read_workflow(WORKFLOWS / "seed-sweep.json", runtime)
    prepared = prepare(loaded, runtime, {"steps": 2}, {"seed": [1, 2], "cfg": [3, 6]})
    assert prepared.sweep is not None
    result = runtime.engine.run(prepared.prompt)
    assert result.ok, result.error
    for shared in ("4", "6", "7", "5"):
        assert result.executed.count(shared) == 1
    assert sum(1 for n in result.executed if n.endswith(":3")) == 4  # one sampler per point
    results = prepared.sweep.results(dict(result.ui))
    assert [p["label"] for p in results["points"]] == ["seed=1, cfg=3.0", "seed=1, cfg=6.0", "seed=2, cfg=3.0",
                                                       "seed=2, cfg=6.0"]
    assert len(results["sheet"]) == 1
    images = [runtime.folders.output / p["images"][0]["filename"] for p in results["points"]]
    assert len({tuple(pixels(i)) for i in images}) == 4  # four different pictures


async def test_library_route_on_the_shipped_folder(aiohttp_client: Any, tiny_base: Path,
                                                   make_runtime: Callable[..., Runtime]) -> None:
    runtime = make_runtime(tiny_base)  # the base has no workflows/: the shipped folder is the library
    assert set(library(runtime)) == set(NAMES)
    client = await aiohttp_client(create_app(runtime))
    entries = {w["name"]: w for w in (await (await client.get("/api/workflows")).json())["workflows"]}
    assert set(entries) == set(NAMES)
    assert entries["lora"]["models"] == [
        {"name": CHECKPOINT, "directory": "checkpoints", "present": True},
        {"name": LORA, "directory": "loras", "present": True}]
    assert {p["name"] for p in entries["img2img"]["parameters"]} >= {"image", "prompt", "seed", "denoise"}
    image = next(p for p in entries["img2img"]["parameters"] if p["name"] == "image")
    assert image["type"] == "COMBO" and image["choices"] == ["example.png"]
    resp = await client.post("/api/workflows/upscale/run", json={"params": {"steps": 2, "scale": 1.5}})
    body = await resp.json()
    assert resp.status == 200 and body["status"] == "completed", body
    assert body["params"]["scale"] == 1.5 and len(body["images"]) == 1
    _, entry = describe_entry("upscale", WORKFLOWS / "upscale.json", runtime)
    assert entry["sweep"] is None and entry["format"] == "latentloom"
