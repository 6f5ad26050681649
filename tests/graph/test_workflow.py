"""Parsing API-format workflows into typed objects and writing them back losslessly."""

from __future__ import annotations

import json

import pytest

from graph.errors import ErrorCode, WorkflowFormatError
from graph.workflow import BadLink, Link, ListValue, Workflow

DOC = {
    "3": {
        "class_type": "KSampler",
        "inputs": {"seed": 5, "steps": 20, "cfg": 8.0, "sampler_name": "euler", "model": ["4", 0], "latent_image": ["5", 0]},
        "_meta": {"title": "KSampler"},
    },
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "a.safetensors"}},
    "5": {"class_type": "Thing", "inputs": {"values": {"__value__": [1, 2, 3]}, "weird": ["x"], "nested": {"k": [1, {"j": 2}]}}, "is_changed": ["abc"]},
}


def test_parse_types_links_and_constants() -> None:
    wf = Workflow.parse(DOC)
    assert list(wf) == ["3", "4", "5"]
    ks = wf["3"]
    assert ks.class_type == "KSampler" and ks.title == "KSampler"
    assert ks.inputs["model"] == Link("4", 0)
    assert ks.inputs["seed"] == 5
    assert dict(ks.links()) == {"model": Link("4", 0), "latent_image": Link("5", 0)}
    assert wf["5"].inputs["values"] == ListValue((1, 2, 3))
    assert wf["5"].inputs["weird"] == BadLink(("x",))


def test_round_trip_is_lossless() -> None:
    wf = Workflow.parse(DOC)
    assert wf.to_api() == DOC
    assert Workflow.parse(json.loads(json.dumps(wf.to_api()))) == wf


def test_float_slot_is_a_link_and_bool_is_not() -> None:
    wf = Workflow.parse({"1": {"class_type": "A", "inputs": {"x": ["2", 1.0], "y": ["2", True]}}})
    assert wf["1"].inputs["x"] == Link("2", 1)
    assert isinstance(wf["1"].inputs["y"], BadLink)


def test_workflow_is_immutable_and_set_input_copies() -> None:
    wf = Workflow.parse(DOC)
    with pytest.raises(TypeError):
        wf["3"].inputs["seed"] = 1  # type: ignore[index]
    changed = wf.set_input("3", "seed", 42)
    assert changed["3"].inputs["seed"] == 42 and wf["3"].inputs["seed"] == 5
    assert changed.set_input("3", "model", ["9", 1])["3"].inputs["model"] == Link("9", 1)


def test_structural_errors_list_every_offender() -> None:
    with pytest.raises(WorkflowFormatError) as info:
        Workflow.parse({"1": "nope", "2": {"class_type": "A", "inputs": []}, "3": {"class_type": "B"}})
    errors = info.value.errors
    assert [(e.code, e.node_id, e.pointer) for e in errors] == [
        (ErrorCode.INVALID_WORKFLOW, "1", "/1"),
        (ErrorCode.INVALID_WORKFLOW, "2", "/2/inputs"),
    ]
    with pytest.raises(WorkflowFormatError):
        Workflow.parse([1, 2])


def test_missing_class_type_is_kept_for_validation() -> None:
    wf = Workflow.parse({"1": {"inputs": {}}})
    assert wf["1"].class_type is None
