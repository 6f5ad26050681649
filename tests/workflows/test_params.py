"""Named parameters: declarations, values, errors with pointers; through the CLI and the server."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from graph.errors import ErrorCode
from graph.params import FORMAT, apply_parameters, read_parameters
from nodes.registry import NodeRegistry
from nodes.runtime import Runtime
from server.app import create_app
from server.state import WORKER
from tests.workflows.conftest import WORKFLOWS, CliRun, write_json
from tests.workflows.ui_docs import UiGraph

HELLO = json.loads((WORKFLOWS / "hello.json").read_text())


def greet_doc() -> dict[str, Any]:
    """hello.json with three parameters: a STRING by title, an INT by id, a COMBO."""
    return {
        "format": FORMAT,
        "description": "Says the answer.",
        "parameters": {
            "name": {"node": "Name", "input": "value", "description": "Who speaks."},
            "a": {"node": "2", "input": "a", "type": "INT", "default": 5, "description": "The first factor."},
            "op": {"node": "Answer", "input": "operation"},
        },
        "prompt": copy.deepcopy(HELLO),
    }


def test_declarations_take_types_ranges_and_choices_from_the_spec(registry: NodeRegistry) -> None:
    doc = greet_doc()
    params, errors = read_parameters(doc["parameters"], doc["prompt"], registry)
    assert errors == []
    by_name = {p.name: p.to_dict() for p in params}
    assert by_name["name"] == {"name": "name", "type": "STRING", "default": "latentloom", "description": "Who speaks.",
                               "node": "1", "input": "value"}
    assert by_name["a"]["type"] == "INT" and by_name["a"]["default"] == 5  # the declared default wins
    assert by_name["op"]["type"] == "COMBO" and "multiply" in by_name["op"]["choices"]
    assert by_name["op"]["default"] == "multiply"  # the graph's value


def test_declaration_errors_all_at_once_with_pointers(registry: NodeRegistry) -> None:
    prompt = copy.deepcopy(HELLO)
    declared = {
        "who": {"node": "Nobody", "input": "value"},
        "typo": {"node": "2", "input": "aa"},
        "linked": {"node": "3", "input": "value"},
        "kind": {"node": "2", "input": "b", "type": "STRING"},
        "bad name!": {"node": "2", "input": "a"},
        "range": {"node": "2", "input": "a", "default": "many"},
    }
    params, errors = read_parameters(declared, prompt, registry)
    assert params == ()
    assert all(e.code is ErrorCode.BAD_PARAMETER for e in errors)
    pointers = {e.pointer: e.message for e in errors}
    assert "no node with id or title 'Nobody'" in pointers["/parameters/who/node"]
    assert "has no input 'aa'" in pointers["/parameters/typo/input"]
    assert "takes a link" in pointers["/parameters/linked/input"] or "linked" in pointers["/parameters/linked/input"]
    assert "declared 'STRING'" in pointers["/parameters/kind/type"]
    assert "/parameters/bad name!" in pointers
    assert "expected an INT" in pointers["/parameters/range/default"]


def test_values_are_coerced_and_checked(registry: NodeRegistry) -> None:
    doc = greet_doc()
    params, _ = read_parameters(doc["parameters"], doc["prompt"], registry)
    prompt, used, errors = apply_parameters(doc["prompt"], params, {"a": "9", "name": "loom"})
    assert errors == [] and used == {"name": "loom", "a": 9, "op": "multiply"}
    assert prompt["2"]["inputs"]["a"] == 9 and prompt["1"]["inputs"]["value"] == "loom"
    assert doc["prompt"]["2"]["inputs"]["a"] == 6  # the original is untouched

    _, _, errors = apply_parameters(doc["prompt"], params, {"a": 2.5, "op": "multiplyy", "nme": "x"})
    by_pointer = {e.pointer: e for e in errors}
    assert set(by_pointer) == {"/params/nme", "/params/a", "/params/op"}
    assert "did you mean 'name'" in by_pointer["/params/nme"].message
    assert by_pointer["/params/a"].node_id == "2" and by_pointer["/params/a"].input_name == "a"
    assert by_pointer["/params/a"].extra["received_value"] == 2.5
    assert "did you mean 'multiply'" in by_pointer["/params/op"].message
    assert all(e.code is ErrorCode.BAD_PARAMETER for e in errors)


# -- command line ---------------------------------------------------------------------------------------


def test_cli_run_with_params(tmp_path: Path, cli: CliRun) -> None:
    path = write_json(tmp_path / "greet.json", greet_doc())
    code, out, err = cli("run", path, "--base-dir", tmp_path, "-q", "--param", "name=loom", "--param", "a=10")
    assert code == 0, err
    assert "PreviewAny #5: loom says 70" in out
    code, out, _ = cli("run", path, "--base-dir", tmp_path, "-q")
    assert "latentloom says 35" in out  # the declared default of a


def test_cli_bad_params_exit_2_with_pointers(tmp_path: Path, cli: CliRun) -> None:
    path = write_json(tmp_path / "greet.json", greet_doc())
    code, _, err = cli("run", path, "--base-dir", tmp_path, "--param", "a=x", "--param", "zzz=1")
    assert code == 2
    assert "at /params/a" in err and "at /params/zzz" in err and "bad_parameter" in err
    code, _, err = cli("run", path, "--base-dir", tmp_path, "--param", "novalue")
    assert code == 2 and "NAME=VALUE" in err


def test_cli_validate_lists_parameters_and_convert_applies_them(tmp_path: Path, cli: CliRun) -> None:
    path = write_json(tmp_path / "greet.json", greet_doc())
    code, out, _ = cli("validate", path, "--base-dir", tmp_path)
    assert code == 0 and "ok (latentloom" in out and "parameters name, a, op" in out
    code, out, _ = cli("convert", path, "--base-dir", tmp_path, "--param", "op=add")
    assert code == 0
    api = json.loads(out)
    assert api["2"]["inputs"] == {"a": 5, "b": 7, "operation": "add"} and "format" not in api


def test_cli_convert_ui_to_file_and_run_ui(tmp_path: Path, cli: CliRun) -> None:
    g = UiGraph()
    g.node(1, "PrimitiveString", ["ui"], outputs=["STRING"])
    g.node(2, "PreviewAny", inputs=[("source", "*")], outputs=["STRING"])
    g.link(1, 0, 2, 0)
    ui = write_json(tmp_path / "ui.json", g.doc(1))
    code, _, err = cli("convert", ui, "-o", tmp_path / "api.json", "--base-dir", tmp_path)
    assert code == 0 and "wrote 2 nodes" in err
    assert json.loads((tmp_path / "api.json").read_text())["2"]["inputs"] == {"source": ["1", 0]}
    code, out, _ = cli("run", ui, "--base-dir", tmp_path, "-q")
    assert code == 0 and "PreviewAny #2: ui" in out
    bad = g.doc(1)
    bad["nodes"][0]["widgets_values"] = []
    code, _, err = cli("convert", write_json(tmp_path / "bad.json", bad), "--base-dir", tmp_path)
    assert code == 2 and "/nodes/0/widgets_values" in err and "holds 0 value(s)" in err


# -- server ---------------------------------------------------------------------------------------------


@pytest.fixture
async def server(aiohttp_client: Any, make_runtime: Callable[..., Runtime], tmp_path: Path) -> TestClient:
    """An app on a base whose workflows/ holds greet.json (the library) and hello.json."""
    (tmp_path / "workflows").mkdir()
    write_json(tmp_path / "workflows" / "greet.json", greet_doc())
    write_json(tmp_path / "workflows" / "hello.json", HELLO)
    return await aiohttp_client(create_app(make_runtime(tmp_path)))


async def test_library_lists_parameters(server: TestClient) -> None:
    body = await (await server.get("/api/workflows")).json()
    entries = {w["name"]: w for w in body["workflows"]}
    assert set(entries) == {"greet", "hello"}
    greet = entries["greet"]
    assert greet["format"] == "latentloom" and greet["description"] == "Says the answer." and greet["file"] == "greet.json"
    assert [p["name"] for p in greet["parameters"]] == ["name", "a", "op"]
    assert greet["parameters"][1]["min"] < 0 < greet["parameters"][1]["max"]
    assert entries["hello"]["parameters"] == [] and entries["hello"]["format"] == "api"
    one = await (await server.get("/api/workflows/greet")).json()
    assert one["prompt"]["2"]["inputs"]["a"] == 5


async def test_run_library_workflow_with_params(server: TestClient) -> None:
    resp = await server.post("/api/workflows/greet/run", json={"params": {"name": "api", "a": 2}, "prompt_id": "g1"})
    body = await resp.json()
    assert resp.status == 200, body
    assert body["status"] == "completed" and body["workflow"] == "greet"
    assert body["params"] == {"name": "api", "a": 2, "op": "multiply"}
    assert body["outputs"]["5"] == {"text": ["api says 14"]}
    queued = await (await server.post("/workflows/greet/run", json={"params": {"a": 3}, "wait": False})).json()
    assert set(queued) >= {"prompt_id", "number", "node_errors", "workflow", "params"}
    assert await server.app[WORKER].wait_for(queued["prompt_id"], 10) is not None


async def test_run_library_workflow_bad_params_400(server: TestClient) -> None:
    resp = await server.post("/api/workflows/greet/run", json={"params": {"a": "lots", "op": "pow", "x": 1}})
    body = await resp.json()
    assert resp.status == 400
    assert body["error"]["type"] == "bad_parameter"
    reasons = body["error"]["extra_info"]["errors"]
    assert {r["pointer"] for r in reasons} == {"/params/a", "/params/op", "/params/x"}
    assert all(r["type"] == "bad_parameter" for r in reasons)
    assert [r["pointer"] for r in body["node_errors"]["2"]["errors"]] == ["/params/a", "/params/op"]
    assert (await server.post("/api/workflows/nope/run", json={})).status == 404


async def test_prompt_accepts_ui_format_and_embeds_the_workflow(server: TestClient) -> None:
    g = UiGraph()
    g.node(1, "PrimitiveString", ["from the editor"], outputs=["STRING"])
    g.node(2, "PreviewAny", inputs=[("source", "*")], outputs=["STRING"])
    g.link(1, 0, 2, 0)
    ui = g.doc(0.4)
    resp = await server.post("/prompt", json={"prompt": ui, "prompt_id": "ui1"})
    assert resp.status == 200, await resp.json()
    job = await server.app[WORKER].wait_for("ui1", 10)
    assert job is not None and job.outputs == {"2": {"text": ["from the editor"]}}
    assert job.prompt["2"]["class_type"] == "PreviewAny"  # history holds the API graph
    assert job.extra_data["extra_pnginfo"]["workflow"] == ui


async def test_run_accepts_a_parameterised_document_with_params(server: TestClient) -> None:
    resp = await server.post("/api/run", json={"prompt": greet_doc(), "params": {"a": 1}})
    body = await resp.json()
    assert resp.status == 200 and body["outputs"]["5"] == {"text": ["latentloom says 7"]}


async def test_prompt_conversion_errors_are_400_with_pointers(server: TestClient) -> None:
    g = UiGraph()
    g.node(1, "PrimitiveStrin", ["x"], outputs=["STRING"])
    g.node(2, "PreviewAny", ["stale"], inputs=[("source", "*")])
    body = await (await server.post("/prompt", json={"prompt": g.doc()})).json()
    assert body["error"]["type"] == "invalid_prompt"
    assert body["error"]["message"] == "Cannot execute because node PrimitiveStrin does not exist."
    assert body["error"]["pointer"] == "/nodes/0/type"
    assert len(body["error"]["extra_info"]["errors"]) == 2  # and the stale widget value of PreviewAny


async def test_plain_api_prompt_is_stored_exactly_as_sent(server: TestClient) -> None:
    doc = copy.deepcopy(HELLO)
    resp = await server.post("/prompt", json={"prompt": doc, "prompt_id": "plain", "params": {"ignored": 1}})
    assert resp.status == 200
    job = await server.app[WORKER].wait_for("plain", 10)
    assert job is not None and job.prompt == doc and "extra_pnginfo" not in job.extra_data
