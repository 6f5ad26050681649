"""Sweeps: a grid of parameter values as one job, shared upstream nodes, one image per point, a contact sheet."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from graph.errors import ErrorCode, WorkflowFormatError
from graph.params import FORMAT, read_parameters
from graph.sweep import MAX_POINTS, SHEET_NODE, SHEET_SAVE, plan_sweep
from nodes.registry import NodeRegistry
from nodes.runtime import Runtime
from server.app import create_app
from tests.workflows.conftest import CliRun, write_json

GRAPH: dict[str, Any] = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 8, "batch_size": 1, "color": 0x336699}},
    "2": {"class_type": "ImageScaleBy", "inputs": {"image": ["1", 0], "upscale_method": "nearest-exact", "scale_by": 1.0},
          "_meta": {"title": "Scale"}},
    "3": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
    "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "sw"}},
}
PARAMS = {"scale": {"node": "Scale", "input": "scale_by"}, "method": {"node": "Scale", "input": "upscale_method"}}


def sweep_doc(sweep: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"format": FORMAT, "description": "A swept image.", "parameters": PARAMS, "prompt": GRAPH}
    if sweep is not None:
        doc["sweep"] = sweep
    return doc


def _plan(registry: NodeRegistry, grid: Any) -> Any:
    params, errors = read_parameters(PARAMS, GRAPH, registry)
    assert not errors
    return plan_sweep(GRAPH, params, grid, registry)


def test_plan_shares_unswept_nodes_and_copies_the_rest(registry: NodeRegistry) -> None:
    plan = _plan(registry, {"scale": [1.0, 2.0], "method": ["nearest-exact", "bilinear"]})
    assert [p.label for p in plan.points] == ["scale=1.0, method=nearest-exact", "scale=1.0, method=bilinear",
                                              "scale=2.0, method=nearest-exact", "scale=2.0, method=bilinear"]
    expected = {"1", SHEET_NODE, SHEET_SAVE} | {f"p{i}:{n}" for i in range(4) for n in ("2", "3", "4")}
    assert set(plan.prompt) == expected
    assert plan.prompt["p3:2"]["inputs"] == {"image": ["1", 0], "upscale_method": "bilinear", "scale_by": 2.0}
    assert plan.prompt["p3:3"]["inputs"]["image"] == ["p3:2", 0]
    sheet = plan.prompt[SHEET_NODE]["inputs"]
    assert sheet["columns"] == 2 and sheet["labels"].split("\n")[1] == "scale=1.0, method=bilinear"
    assert [sheet[f"image_{i}"] for i in range(1, 5)] == [[f"p{i}:3", 0] for i in range(4)]
    assert plan.prompt[SHEET_SAVE]["inputs"] == {"images": [SHEET_NODE, 0], "filename_prefix": "sw_sheet"}
    assert GRAPH["2"]["inputs"]["scale_by"] == 1.0  # the input graph is untouched


def test_sweep_errors_point_at_the_axis(registry: NodeRegistry) -> None:
    with pytest.raises(WorkflowFormatError) as info:
        _plan(registry, {"scale": [1.0, "big", 99.0], "colour": [1], "method": []})
    pointers = {e.pointer: e for e in info.value.errors}
    assert set(pointers) == {"/sweep/scale/1", "/sweep/scale/2", "/sweep/colour", "/sweep/method"}
    assert all(e.code is ErrorCode.BAD_PARAMETER for e in info.value.errors)
    assert "between 0.01 and 8.0" in pointers["/sweep/scale/2"].message
    with pytest.raises(WorkflowFormatError, match=f"at most {MAX_POINTS}"):
        _plan(registry, {"scale": [1.0] * 20, "method": ["area"] * 20})


def test_sweep_runs_as_one_job_with_shared_nodes(registry: NodeRegistry, make_runtime: Callable[..., Runtime],
                                                 tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)
    plan = _plan(registry, {"scale": [1.0, 2.0], "method": ["nearest-exact", "bilinear"]})
    result = runtime.engine.run(plan.prompt)
    assert result.ok, result.error
    assert result.executed.count("1") == 1 and "p0:2" in result.executed and "p3:4" in result.executed
    results = plan.results(dict(result.ui))
    assert [len(p["images"]) for p in results["points"]] == [1, 1, 1, 1]
    [sheet] = results["sheet"]
    from PIL import Image

    with Image.open(runtime.folders.output / sheet["filename"]) as image:
        assert image.width >= 2 * 32 and image.height >= 2 * 16  # two columns and two rows of 32x16 cells


def test_identical_points_share_results(registry: NodeRegistry, make_runtime: Callable[..., Runtime], tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)
    plan = _plan(registry, {"scale": [2.0, 2.0]})
    result = runtime.engine.run(plan.prompt)
    assert result.ok
    ran = [n for n in result.executed if n.endswith(":2")]
    assert len(ran) == 1  # p1:2 is p0:2 by content, so it runs once


def test_cli_sweep_from_the_file_and_the_command_line(tmp_path: Path, cli: CliRun) -> None:
    path = write_json(tmp_path / "sw.json", sweep_doc({"scale": [1, 2]}))
    code, out, err = cli("run", path, "--base-dir", tmp_path)
    assert code == 0, err
    assert out.count("SaveImage #p") == 2 and "SaveImage #sweep_sheet_save" in out
    assert "sweep: 2 point(s) over scale" in err
    code, out, err = cli("run", path, "--base-dir", tmp_path, "-q", "--sweep", "method=area,bilinear,bicubic",
                         "--sweep", 'scale=[1.5, 0.5]')
    assert code == 0, err
    assert out.count("SaveImage #p") == 6
    code, out, _ = cli("run", path, "--base-dir", tmp_path, "-q", "--no-sweep")
    assert code == 0 and "SaveImage #4" in out and "#sweep_sheet_save" not in out
    code, _, err = cli("run", path, "--base-dir", tmp_path, "--sweep", "scale=1,nine")
    assert code == 2 and "/sweep/scale/1" in err


def test_cli_sweep_over_any_input_of_an_api_graph(tmp_path: Path, cli: CliRun) -> None:
    path = write_json(tmp_path / "api.json", GRAPH)
    code, out, err = cli("run", path, "--base-dir", tmp_path, "-q", "--sweep", "1.color=255,65280")
    assert code == 0, err
    assert out.count("SaveImage #p") == 2  # the swept EmptyImage is copied too
    code, _, err = cli("run", path, "--base-dir", tmp_path, "--sweep", "9.color=1")
    assert code == 2 and "no node with id or title '9'" in err


async def test_server_runs_a_sweep(aiohttp_client: Any, make_runtime: Callable[..., Runtime], tmp_path: Path) -> None:
    (tmp_path / "workflows").mkdir()
    write_json(tmp_path / "workflows" / "sw.json", sweep_doc({"scale": [1.0, 2.0]}))
    client = await aiohttp_client(create_app(make_runtime(tmp_path)))
    resp = await client.post("/api/workflows/sw/run", json={"sweep": {"method": ["area", "bicubic"]}, "params": {"scale": 3}})
    body = await resp.json()
    assert resp.status == 200, body
    sweep = body["sweep"]
    assert sweep["axes"] == {"method": ["area", "bicubic"]}
    assert [p["values"] for p in sweep["points"]] == [{"method": "area"}, {"method": "bicubic"}]
    assert all(len(p["images"]) == 1 for p in sweep["points"]) and len(sweep["sheet"]) == 1
    assert len(body["images"]) == 3
    default = await (await client.post("/api/workflows/sw/run", json={})).json()
    assert [p["label"] for p in default["sweep"]["points"]] == ["scale=1.0", "scale=2.0"]
    off = await (await client.post("/api/workflows/sw/run", json={"sweep": None})).json()
    assert "sweep" not in off and len(off["images"]) == 1
