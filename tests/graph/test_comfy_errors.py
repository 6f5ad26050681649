"""graph.comfy_errors: ComfyUI's /prompt error bodies and the terminal text form."""

from __future__ import annotations

import json
from typing import Any

from graph.comfy_errors import comfy_error_response, comfy_message, comfy_node_errors, format_errors
from graph.errors import ErrorCode, GraphError
from graph.validate import ValidationReport, validate
from tests.graph.spec_helpers import CKPT_TOOLTIP, DictRegistry, parse, txt2img, txt2img_specs


def report_for(document: dict[str, Any], checkpoints: list[str] | None = None,
               targets: list[str] | None = None) -> ValidationReport:
    return validate(parse(document), DictRegistry(*txt2img_specs(checkpoints)), targets)


def without_latentloom_keys(body: dict[str, Any]) -> dict[str, Any]:
    """The body as ComfyUI would send it: our ``pointer`` / ``explanation`` additions removed."""
    body = json.loads(json.dumps(body))
    for key in ("pointer", "explanation"):
        body["error"].pop(key, None)
    for entry in body["node_errors"].values():
        for reason in entry["errors"]:
            reason.pop("pointer")
            reason.pop("explanation")
    return body


def test_missing_checkpoint_gives_the_reference_400_body() -> None:
    doc = txt2img()
    doc["4"]["inputs"]["ckpt_name"] = "x.safetensors"
    body = comfy_error_response(report_for(doc, checkpoints=[]))
    assert body is not None
    assert without_latentloom_keys(body) == {
        "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                  "details": "Value not in list: ckpt_name: 'x.safetensors' not in []", "extra_info": {}},
        "node_errors": {"4": {
            "errors": [{"type": "value_not_in_list", "message": "Value not in list",
                        "details": "ckpt_name: 'x.safetensors' not in []",
                        "extra_info": {"input_name": "ckpt_name", "input_config": [[], {"tooltip": CKPT_TOOLTIP}],
                                       "received_value": "x.safetensors"}}],
            "dependent_outputs": ["9"],
            "class_type": "CheckpointLoaderSimple"}},
    }
    reason = body["node_errors"]["4"]["errors"][0]
    assert reason["pointer"] == "/4/inputs/ckpt_name"
    assert reason["explanation"] == (
        "CheckpointLoaderSimple node 4, input 'ckpt_name': expected one of [] (no values are available), "
        "got 'x.safetensors'"
    )
    assert body["error"]["explanation"] == reason["explanation"]


def test_some_outputs_valid_gives_no_400_and_node_errors_for_the_200() -> None:
    doc = txt2img()
    doc["11"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": "b", "images": ["12", 0]}}
    doc["12"] = {"class_type": "VAEDecode", "inputs": {"samples": ["5", 7], "vae": ["4", 2]}}
    report = report_for(doc)
    assert report.outputs == ("9",)
    assert comfy_error_response(report) is None
    node_errors = comfy_node_errors(report)
    assert json.loads(json.dumps(node_errors)) == {"12": {
        "errors": [{
            "type": "bad_output_index", "message": "Linked output index does not exist",
            "details": "samples, output index 7",
            "extra_info": {"input_name": "samples", "input_config": ["LATENT", {}], "linked_node": ["5", 7]},
            "pointer": "/12/inputs/samples",
            "explanation": "VAEDecode node 12, input 'samples': linked to output 7 of EmptyLatentImage node 5, "
                           "which has outputs 0 to 0",
        }],
        "dependent_outputs": ["11"],
        "class_type": "VAEDecode",
    }}
    assert comfy_node_errors(report_for(txt2img())) == {}


def test_unknown_class_is_an_invalid_prompt_with_empty_node_errors() -> None:
    doc = txt2img()
    doc["3"]["inputs"]["steps"] = 0
    doc["7"]["class_type"] = "CLIPTextEncodeSDXL"
    body = comfy_error_response(report_for(doc))
    assert body == {
        "error": {"type": "invalid_prompt", "message": "Cannot execute because node CLIPTextEncodeSDXL does not exist.",
                  "details": "Node ID '#7'", "extra_info": {}, "pointer": "/7/class_type",
                  "explanation": "node 7: unknown node type 'CLIPTextEncodeSDXL'; did you mean 'CLIPTextEncode'?"},
        "node_errors": {},
    }


def test_missing_class_type_is_an_invalid_prompt() -> None:
    doc = txt2img()
    del doc["6"]["class_type"]
    body = comfy_error_response(report_for(doc))
    assert body is not None
    assert (body["error"]["type"], body["error"]["message"], body["error"]["details"], body["node_errors"]) == (
        "invalid_prompt", "Cannot execute because a node is missing the class_type property.", "Node ID '#6'", {})


def test_no_outputs_body() -> None:
    body = comfy_error_response(report_for(txt2img(), targets=[]))
    assert body is not None
    assert without_latentloom_keys(body) == {
        "error": {"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "", "extra_info": {}},
        "node_errors": {},
    }


def test_failed_validation_lists_every_error_and_its_comfyui_message() -> None:
    doc = txt2img()
    doc["3"]["inputs"].update(steps=0, cfg="warm", denoise=2)
    doc["5"]["inputs"]["width"] = ["4", 0]
    body = comfy_error_response(report_for(doc))
    assert body is not None
    assert body["error"]["details"].split("\n") == [
        "Value 0 smaller than min of 1: steps",
        "Failed to convert an input value to a FLOAT value: cfg, 'warm', could not convert string to float: 'warm'",
        "Value 2.0 bigger than max of 1.0: denoise",
        "Return type mismatch between linked nodes: width, received_type(MODEL) mismatch input_type(INT)",
    ]
    assert list(body["node_errors"]) == ["3", "5"]
    assert [r["type"] for r in body["node_errors"]["3"]["errors"]] == [
        "value_smaller_than_min", "invalid_input_type", "value_bigger_than_max"]
    assert body["node_errors"]["5"]["dependent_outputs"] == ["9"]
    json.dumps(body)  # JSON-ready


def test_comfy_messages_for_types_comfyui_lacks() -> None:
    cycle = GraphError(ErrorCode.DEPENDENCY_CYCLE, "A node 1, input 'a': ...", "1", "a", "/1/inputs/a")
    assert comfy_message(cycle) == "Dependency cycle detected"
    assert comfy_message(GraphError(ErrorCode.LINK_TO_MISSING_NODE, "x", "1")) == "Linked node does not exist"


def test_format_errors_prints_one_line_per_error() -> None:
    doc = txt2img()
    doc["3"]["inputs"]["steps"] = 0
    doc["8"]["class_type"] = "VAEDecod"
    report = report_for(doc, targets=["9", "40"])
    assert format_errors(report.errors) == "\n".join([
        "workflow: target '40' is not a node of the workflow; targets must be ids of its output nodes  [bad_parameter]",
        "node 3 (KSampler) input 'steps': expected an INT between 1 and 10000, got 0  "
        "[value_smaller_than_min] at /3/inputs/steps",
        "node 8: unknown node type 'VAEDecod'; did you mean 'VAEDecode'?  [unknown_node_type] at /8/class_type",
    ])
    assert format_errors([]) == ""


def test_format_errors_keeps_messages_without_the_usual_lead_in() -> None:
    custom = GraphError(ErrorCode.BAD_PARAMETER, "seed is odd", "5", "seed", "/5/inputs/seed")
    node_level = GraphError(ErrorCode.EXCEPTION_DURING_VALIDATION, "My Node node 5: boom", "5", None, "/5")
    assert format_errors([custom, node_level]) == "\n".join([
        "node 5 input 'seed': seed is odd  [bad_parameter] at /5/inputs/seed",
        "node 5 (My Node): boom  [exception_during_validation] at /5",
    ])
