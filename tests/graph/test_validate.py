"""graph.validate: every error code, error order, reachability, targets, coercion, cycles, custom checks."""

from __future__ import annotations

from typing import Any

import pytest

from graph.errors import ErrorCode, GraphError
from graph.spec import HiddenSpec, InputSpec, NodeSpec
from graph.validate import ValidationReport, node_id_key, validate
from graph.workflow import Link, ListValue
from tests.graph.spec_helpers import (
    SAMPLERS,
    DictRegistry,
    SpecOnlyRegistry,
    make_spec,
    parse,
    txt2img,
    txt2img_specs,
)

E = ErrorCode


def run(document: dict[str, Any], *specs: NodeSpec, targets: list[str] | None = None) -> ValidationReport:
    registry = DictRegistry(*(specs or txt2img_specs()))
    return validate(parse(document), registry, targets)


def locate(error: GraphError) -> tuple[ErrorCode, str | None, str | None, str]:
    """(code, node_id, input_name, pointer) of an error."""
    return (error.code, error.node_id, error.input_name, error.pointer)


def where(report: ValidationReport) -> list[tuple[ErrorCode, str | None, str | None, str]]:
    """:func:`locate` for every error, in report order."""
    return [locate(e) for e in report.errors]


def one(report: ValidationReport) -> GraphError:
    assert len(report.errors) == 1, [str(e) for e in report.errors]
    return report.errors[0]


# Toy nodes: Number (constant INT in, INT out), Add (two INTs), Show (output node, any value).
NUMBER = make_spec("Number", [InputSpec("value", "INT", min=0, max=100)], ["INT"])
ADD = make_spec("Add", [InputSpec("a", "INT"), InputSpec("b", "INT", required=False)], ["INT"])
SHOW = make_spec("Show", [InputSpec("value", "*")], is_output=True)
TOYS = (NUMBER, ADD, SHOW)


# The happy path ---------------------------------------------------------------------------------


def test_valid_workflow_reports_nothing_and_coerces_constants() -> None:
    report = run(txt2img())
    assert report.ok
    assert (report.errors, report.outputs, report.failed_outputs) == ((), ("9",), ())
    ksampler = report.workflow["3"].inputs
    assert ksampler["cfg"] == 8.0 and type(ksampler["cfg"]) is float
    assert ksampler["denoise"] == 1.0 and type(ksampler["denoise"]) is float
    assert ksampler["model"] == Link("4", 0)
    assert list(report.workflow) == ["3", "4", "5", "6", "7", "8", "9"]


def test_nodes_without_changes_are_reused_unchanged() -> None:
    workflow = parse(txt2img())
    report = validate(workflow, DictRegistry(*txt2img_specs()))
    assert report.workflow["4"] is workflow["4"]  # nothing to coerce or drop
    assert report.workflow["3"] is not workflow["3"]  # cfg 8 became 8.0


# One test per error code --------------------------------------------------------------------------


def test_missing_class_type() -> None:
    doc = txt2img()
    del doc["5"]["class_type"]
    report = run(doc)
    error = one(report)
    assert locate(error) == (E.MISSING_CLASS_TYPE, "5", None, "/5/class_type")
    assert error.details == "Node ID '#5'"
    assert error.message.startswith("node 5: the class_type is missing")
    # a node without a type cannot be classified: the whole workflow is refused, as in ComfyUI
    assert (report.outputs, report.failed_outputs) == ((), ("9",))


def test_unknown_node_type_suggests_close_names() -> None:
    doc = txt2img()
    doc["8"]["class_type"] = "VAEDecod"
    error = one(run(doc))
    assert locate(error) == (E.UNKNOWN_NODE_TYPE, "8", None, "/8/class_type")
    assert error.message == "node 8: unknown node type 'VAEDecod'; did you mean 'VAEDecode'?"
    assert error.extra == {"class_type": "VAEDecod", "suggestions": ["VAEDecode"]}


def test_unknown_node_type_without_listing_registry_says_what_to_check() -> None:
    doc = txt2img()
    doc["8"]["class_type"] = "VAEDecod"
    report = validate(parse(doc), SpecOnlyRegistry(*txt2img_specs()))
    assert one(report).message == (
        "node 8: unknown node type 'VAEDecod'; no registered node type has that name "
        "(is the node pack that provides it installed?)"
    )


def test_unknown_node_types_are_reported_even_when_unreachable() -> None:
    doc = txt2img()
    doc["99"] = {"class_type": "NoSuchNode", "inputs": {}}
    report = run(doc)
    assert where(report) == [(E.UNKNOWN_NODE_TYPE, "99", None, "/99/class_type")]
    assert report.outputs == ()


def test_problems_upstream_of_an_unknown_node_are_reported_too() -> None:
    doc = txt2img()
    doc["8"]["class_type"] = "VAEDecod"
    doc["3"]["inputs"]["steps"] = 0
    doc["4"]["inputs"]["ckpt_name"] = "gone.safetensors"
    report = run(doc)
    assert where(report) == [
        (E.VALUE_SMALLER_THAN_MIN, "3", "steps", "/3/inputs/steps"),
        (E.VALUE_NOT_IN_LIST, "4", "ckpt_name", "/4/inputs/ckpt_name"),
        (E.UNKNOWN_NODE_TYPE, "8", None, "/8/class_type"),
    ]
    assert list(report.workflow) == ["3", "4", "5", "6", "7", "8", "9"]  # node 8 kept as it is
    assert report.workflow["8"].inputs == parse(doc)["8"].inputs


def test_required_input_missing() -> None:
    doc = txt2img()
    del doc["3"]["inputs"]["steps"]
    del doc["3"]["inputs"]["model"]
    report = run(doc)
    assert where(report) == [
        (E.REQUIRED_INPUT_MISSING, "3", "model", "/3/inputs/model"),
        (E.REQUIRED_INPUT_MISSING, "3", "steps", "/3/inputs/steps"),
    ]
    model, steps = report.errors
    assert steps.message == (
        "KSampler node 3, input 'steps': required input is missing; expected an INT between 1 and 10000"
    )
    assert model.message.endswith("expected a link from a node producing MODEL")
    assert (steps.details, steps.extra) == ("steps", {"input_name": "steps"})


def test_optional_and_hidden_inputs_are_never_required() -> None:
    spec = make_spec("Show", [InputSpec("value", "*", required=False)], is_output=True,
                     hidden=(HiddenSpec("prompt", "PROMPT"), HiddenSpec("unique_id", "UNIQUE_ID")))
    assert run({"1": {"class_type": "Show", "inputs": {}}}, spec).ok


def test_bad_linked_input() -> None:
    doc = txt2img()
    doc["3"]["inputs"]["model"] = ["4", 0, 1]
    error = one(run(doc))
    assert locate(error) == (E.BAD_LINKED_INPUT, "3", "model", "/3/inputs/model")
    assert error.message == "KSampler node 3, input 'model': expected a link [node_id, output_index], got ['4', 0, 1]"
    assert error.extra == {"input_name": "model", "input_config": ["MODEL", {}], "received_value": ["4", 0, 1]}


def test_link_to_missing_node() -> None:
    doc = txt2img()
    doc["8"]["inputs"]["vae"] = ["42", 2]
    report = run(doc)
    error = one(report)
    assert locate(error) == (E.LINK_TO_MISSING_NODE, "8", "vae", "/8/inputs/vae")
    assert error.message == "VAEDecode node 8, input 'vae': linked to node 42, which is not in the workflow"
    assert error.extra["linked_node"] == ["42", 2]
    assert report.failed_outputs == ("9",)


@pytest.mark.parametrize("slot", [3, -1])
def test_bad_output_index(slot: int) -> None:
    doc = txt2img()
    doc["8"]["inputs"]["vae"] = ["4", slot]
    error = one(run(doc))
    assert locate(error) == (E.BAD_OUTPUT_INDEX, "8", "vae", "/8/inputs/vae")
    assert error.message == (
        f"VAEDecode node 8, input 'vae': linked to output {slot} of CheckpointLoaderSimple node 4, "
        "which has outputs 0 to 2"
    )


def test_return_type_mismatch() -> None:
    doc = txt2img()
    doc["3"]["inputs"]["model"] = ["4", 1]  # CLIP into MODEL
    error = one(run(doc))
    assert locate(error) == (E.RETURN_TYPE_MISMATCH, "3", "model", "/3/inputs/model")
    assert error.message == (
        "KSampler node 3, input 'model': expected a link from a node producing MODEL, "
        "got CLIP from output 1 of CheckpointLoaderSimple node 4"
    )
    assert error.details == "model, received_type(CLIP) mismatch input_type(MODEL)"
    assert error.extra == {"input_name": "model", "input_config": ["MODEL", {}], "linked_node": ["4", 1],
                           "received_type": "CLIP"}


def test_invalid_input_type_for_an_unconvertible_constant() -> None:
    doc = txt2img()
    doc["3"]["inputs"]["steps"] = "many"
    error = one(run(doc))
    assert locate(error) == (E.INVALID_INPUT_TYPE, "3", "steps", "/3/inputs/steps")
    assert error.message == "KSampler node 3, input 'steps': expected an INT between 1 and 10000, got 'many'"
    assert error.extra["received_value"] == "many"
    assert error.extra["input_config"] == ["INT", {"default": 20, "min": 1, "max": 10000}]
    assert "invalid literal" in error.extra["exception_message"]


def test_invalid_input_type_for_a_constant_given_to_a_data_input() -> None:
    doc = txt2img()
    doc["3"]["inputs"]["model"] = "sd15"
    error = one(run(doc))
    assert locate(error) == (E.INVALID_INPUT_TYPE, "3", "model", "/3/inputs/model")
    assert error.message == (
        "KSampler node 3, input 'model': expected a link from a node producing MODEL, got the constant 'sd15'"
    )


def test_value_smaller_than_min() -> None:
    doc = txt2img()
    doc["3"]["inputs"]["steps"] = 0
    error = one(run(doc))
    assert locate(error) == (E.VALUE_SMALLER_THAN_MIN, "3", "steps", "/3/inputs/steps")
    assert error.message == "KSampler node 3, input 'steps': expected an INT between 1 and 10000, got 0"
    assert (error.details, error.extra["received_value"]) == ("steps", 0)


def test_value_bigger_than_max() -> None:
    doc = txt2img()
    doc["3"]["inputs"]["denoise"] = "1.5"
    error = one(run(doc))
    assert locate(error) == (E.VALUE_BIGGER_THAN_MAX, "3", "denoise", "/3/inputs/denoise")
    assert error.message == "KSampler node 3, input 'denoise': expected a FLOAT between 0.0 and 1.0, got 1.5"
    assert error.extra["received_value"] == 1.5


def test_value_not_in_list() -> None:
    doc = txt2img()
    doc["3"]["inputs"]["sampler_name"] = "eulr"
    error = one(run(doc))
    assert locate(error) == (
        E.VALUE_NOT_IN_LIST, "3", "sampler_name", "/3/inputs/sampler_name")
    assert error.message == (
        "KSampler node 3, input 'sampler_name': expected one of ['euler', 'euler_ancestral', 'dpmpp_2m'], "
        "got 'eulr'; did you mean 'euler'?"
    )
    assert error.details == "sampler_name: 'eulr' not in ['euler', 'euler_ancestral', 'dpmpp_2m']"
    assert error.extra == {"input_name": "sampler_name", "input_config": [SAMPLERS, {}], "received_value": "eulr"}


def test_value_not_in_a_long_list_is_not_echoed() -> None:
    files = [f"model_{i}.safetensors" for i in range(25)]
    doc = txt2img()
    doc["4"]["inputs"]["ckpt_name"] = "missing.ckpt"
    error = one(run(doc, *txt2img_specs(files)))
    assert error.details == "ckpt_name: 'missing.ckpt' not in (list of length 25)"
    assert error.extra["input_config"] is None
    assert "expected one of the 25 listed values, got 'missing.ckpt'" in error.message


def test_combo_values_wrapped_as_lists_are_unwrapped() -> None:
    sizes = make_spec("Size", [InputSpec("wh", "COMBO", choices=[[512, 512], [768, 768]])], is_output=True)
    good = run({"1": {"class_type": "Size", "inputs": {"wh": {"__value__": [512, 512]}}}}, sizes)
    assert good.ok and good.workflow["1"].inputs["wh"] == ListValue((512, 512))
    bad = run({"1": {"class_type": "Size", "inputs": {"wh": {"__value__": [1, 2]}}}}, sizes)
    assert where(bad) == [(E.VALUE_NOT_IN_LIST, "1", "wh", "/1/inputs/wh")]
    assert bad.errors[0].details == "wh: '[1, 2]' not in [[512, 512], [768, 768]]"


def test_choices_are_computed_once_per_validation() -> None:
    calls = []

    def files() -> list[str]:
        calls.append(1)
        return ["a.safetensors"]

    loader = make_spec("Loader", [InputSpec("name", "COMBO", choices=files)], ["MODEL"])
    sink = make_spec("Sink", [InputSpec("a", "MODEL"), InputSpec("b", "MODEL")], is_output=True)
    doc = {"1": {"class_type": "Loader", "inputs": {"name": "a.safetensors"}},
           "2": {"class_type": "Loader", "inputs": {"name": "a.safetensors"}},
           "3": {"class_type": "Sink", "inputs": {"a": ["1", 0], "b": ["2", 0]}}}
    assert run(doc, loader, sink).ok
    assert len(calls) == 1


def test_dependency_cycle_names_the_nodes_in_data_flow_order() -> None:
    doc = {
        "1": {"class_type": "Add", "inputs": {"a": ["3", 0]}},
        "2": {"class_type": "Add", "inputs": {"a": ["1", 0]}},
        "3": {"class_type": "Add", "inputs": {"a": ["2", 0]}},
        "4": {"class_type": "Show", "inputs": {"value": ["3", 0]}},
        "5": {"class_type": "Number", "inputs": {"value": 1}},
        "6": {"class_type": "Show", "inputs": {"value": ["5", 0]}},
    }
    report = run(doc, *TOYS)
    error = one(report)
    assert locate(error) == (E.DEPENDENCY_CYCLE, "1", "a", "/1/inputs/a")
    assert error.message == (
        "Add node 1, input 'a': the node depends on its own output through the cycle 1 -> 2 -> 3 -> 1 "
        "(each node feeds the next); remove one of these links"
    )
    assert error.extra == {"input_name": "a", "linked_node": ["3", 0], "cycle": ["1", "2", "3"]}
    assert (report.outputs, report.failed_outputs) == (("6",), ("4",))


def test_each_cycle_is_reported_once_including_self_loops() -> None:
    doc = {
        "10": {"class_type": "Add", "inputs": {"a": ["10", 0], "b": ["11", 0]}},  # a self loop
        "11": {"class_type": "Add", "inputs": {"a": ["12", 0]}},
        "12": {"class_type": "Add", "inputs": {"a": ["11", 0]}},
        "2": {"class_type": "Show", "inputs": {"value": ["10", 0]}},
    }
    report = run(doc, *TOYS)
    assert where(report) == [
        (E.DEPENDENCY_CYCLE, "10", "a", "/10/inputs/a"),
        (E.DEPENDENCY_CYCLE, "11", "a", "/11/inputs/a"),
    ]
    assert [e.details for e in report.errors] == ["10 -> 10", "11 -> 12 -> 11"]


def test_custom_validation_passes_the_named_constants() -> None:
    seen: list[dict[str, Any]] = []

    def check(low: int, high: int) -> bool | str:
        seen.append({"low": low, "high": high})
        return True if low <= high else f"low ({low}) must not exceed high ({high})"

    spec = make_spec("Range", [InputSpec("low", "INT", max=10), InputSpec("high", "INT"), InputSpec("note", "STRING")],
                     is_output=True, validate=check, validate_args=frozenset({"high", "low"}))
    ok = run({"1": {"class_type": "Range", "inputs": {"low": "2", "high": 50, "note": "x"}}}, spec)
    assert ok.ok and seen == [{"low": 2, "high": 50}]
    # low=20 is above its max of 10, but the range check is the node's own business (ComfyUI skips it)
    bad = run({"1": {"class_type": "Range", "inputs": {"low": 20, "high": 5, "note": "x"}}}, spec)
    assert where(bad) == [
        (E.CUSTOM_VALIDATION_FAILED, "1", "low", "/1/inputs/low"),
        (E.CUSTOM_VALIDATION_FAILED, "1", "high", "/1/inputs/high"),
    ]
    assert [e.details for e in bad.errors] == [
        "low - low (20) must not exceed high (5)",
        "high - low (20) must not exceed high (5)",
    ]
    assert bad.errors[0].message == (
        "Range node 1, input 'low': the node's own validation rejected its inputs (low (20) must not exceed high (5))"
    )


def test_custom_validation_without_named_args_gets_every_constant() -> None:
    seen: list[dict[str, Any]] = []
    spec = make_spec("Any", [InputSpec("n", "INT", min=0), InputSpec("s", "STRING"), InputSpec("v", "INT")],
                     is_output=True, validate=lambda **kw: seen.append(kw) or False)
    report = run({"1": {"class_type": "Any", "inputs": {"n": 3, "s": "x", "v": ["2", 0]}},
                  "2": {"class_type": "Number", "inputs": {"value": 1}}}, spec, NUMBER)
    assert seen == [{"n": 3, "s": "x"}]  # the linked input is not known yet
    assert [(e.input_name, e.details) for e in report.errors] == [("n", "n"), ("s", "s")]


def test_custom_validation_is_skipped_when_a_named_input_is_linked() -> None:
    calls = []
    spec = make_spec("Check", [InputSpec("value", "INT")], is_output=True,
                     validate=lambda value: calls.append(value) or "never", validate_args=frozenset({"value"}))
    doc = {"1": {"class_type": "Number", "inputs": {"value": 5}},
           "2": {"class_type": "Check", "inputs": {"value": ["1", 0]}}}
    assert run(doc, spec, NUMBER).ok and calls == []


def test_custom_validation_is_skipped_for_a_node_with_other_errors() -> None:
    calls = []
    spec = make_spec("Check", [InputSpec("value", "INT", min=0), InputSpec("other", "INT")], is_output=True,
                     validate=lambda value: calls.append(value) or True, validate_args=frozenset({"value"}))
    report = run({"1": {"class_type": "Check", "inputs": {"value": 5}}}, spec)
    assert where(report) == [(E.REQUIRED_INPUT_MISSING, "1", "other", "/1/inputs/other")]
    assert calls == []


def test_custom_validation_with_input_types_replaces_link_type_checks() -> None:
    seen = []

    def check(input_types: dict[str, str]) -> bool | str:
        seen.append(input_types)
        return True if input_types["value"] in ("INT", "FLOAT") else "value must be a number"

    spec = make_spec("Num", [InputSpec("value", "FLOAT")], is_output=True, validate=check,
                     validate_args=frozenset(), validate_types=True)
    doc = {"1": {"class_type": "Number", "inputs": {"value": 5}},
           "2": {"class_type": "Num", "inputs": {"value": ["1", 0]}}}
    assert run(doc, spec, NUMBER).ok and seen == [{"value": "INT"}]  # INT into FLOAT: no return_type_mismatch
    doc["1"] = {"class_type": "Text", "inputs": {}}
    report = run(doc, spec, make_spec("Text", outputs=["STRING"]))
    assert where(report) == [(E.CUSTOM_VALIDATION_FAILED, "2", None, "/2")]
    assert (report.errors[0].details, report.errors[0].extra) == ("value must be a number", {})


def test_exception_during_validation() -> None:
    def check(value: int) -> bool:
        raise ValueError(f"cannot judge {value}")

    spec = make_spec("Check", [InputSpec("value", "INT")], is_output=True, validate=check,
                     validate_args=frozenset({"value"}))
    error = one(run({"7": {"class_type": "Check", "inputs": {"value": 3}}}, spec))
    assert locate(error) == (E.EXCEPTION_DURING_VALIDATION, "7", None, "/7")
    assert error.message == "Check node 7: the node's own validation raised ValueError: cannot judge 3"
    assert (error.details, error.extra["exception_type"]) == ("cannot judge 3", "ValueError")
    assert any("raise ValueError" in line for line in error.extra["traceback"])


def test_exception_while_listing_choices() -> None:
    def files() -> list[str]:
        raise OSError("models folder is unreadable")

    spec = make_spec("Loader", [InputSpec("name", "COMBO", choices=files)], is_output=True)
    error = one(run({"1": {"class_type": "Loader", "inputs": {"name": "a"}}}, spec))
    assert locate(error) == (E.EXCEPTION_DURING_VALIDATION, "1", "name", "/1/inputs/name")
    assert error.message == (
        "Loader node 1, input 'name': listing the allowed values raised OSError: models folder is unreadable"
    )


# Outputs, targets and reachability ----------------------------------------------------------------


def two_outputs() -> dict[str, Any]:
    """txt2img plus a second branch: node 10 previews the latent through its own decode (node 11)."""
    doc = txt2img()
    doc["11"] = {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["4", 2]}}
    doc["10"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": "empty", "images": ["11", 0]}}
    return doc


def test_no_outputs() -> None:
    doc = txt2img()
    del doc["9"]
    report = run(doc)
    assert where(report) == [(E.NO_OUTPUTS, None, None, "")]
    assert report.errors[0].message == "the workflow has no output node (such as SaveImage), so nothing would run"
    assert (report.outputs, report.failed_outputs, len(report.workflow)) == ((), (), 0)


def test_targets_select_outputs_and_ignore_non_output_nodes() -> None:
    doc = two_outputs()
    doc["3"]["inputs"]["steps"] = 0  # breaks output 9 only
    everything = run(doc)
    assert (everything.outputs, everything.failed_outputs) == (("10",), ("9",))
    only_10 = run(doc, targets=["10", "3"])  # "3" is not an output node: ignored
    assert only_10.ok and only_10.outputs == ("10",) and "3" not in only_10.workflow
    assert sorted(only_10.workflow, key=node_id_key) == ["4", "5", "10", "11"]
    only_9 = run(doc, targets=["9"])
    assert [e.code for e in only_9.errors] == [E.VALUE_SMALLER_THAN_MIN] and only_9.failed_outputs == ("9",)


def test_targets_that_are_not_in_the_workflow_are_errors() -> None:
    report = run(txt2img(), targets=["9", "77"])
    assert where(report) == [(E.BAD_PARAMETER, None, None, "")]
    assert report.errors[0].message == (
        "target '77' is not a node of the workflow; targets must be ids of its output nodes"
    )
    assert report.outputs == ("9",)


def test_targets_without_any_output_node() -> None:
    report = run(txt2img(), targets=["3"])
    assert where(report) == [(E.NO_OUTPUTS, None, None, "")]
    assert "none of the targets ['3'] is an output node" in report.errors[0].message
    assert where(run(txt2img(), targets=[])) == [(E.NO_OUTPUTS, None, None, "")]


def test_unreachable_broken_nodes_are_not_reported() -> None:
    doc = txt2img()
    doc["20"] = {"class_type": "KSampler", "inputs": {"steps": -5, "model": ["404", 0]}}
    doc["21"] = {"class_type": "VAEDecode", "inputs": {"samples": ["20", 0]}}
    report = run(doc)
    assert report.ok and "20" not in report.workflow and "21" not in report.workflow


def test_an_error_fails_only_the_outputs_that_depend_on_it() -> None:
    doc = two_outputs()
    doc["5"]["inputs"]["width"] = 1  # shared by both outputs
    doc["8"]["inputs"]["vae"] = ["4", 1]  # only output 9
    report = run(doc)
    assert (report.outputs, report.failed_outputs) == ((), ("9", "10"))
    assert report.dependent_outputs("5") == ("9", "10")
    assert report.dependent_outputs("8") == ("9",)
    assert report.dependent_outputs("10") == ("10",)
    assert report.dependent_outputs("nope") == ()


def test_every_error_is_reported_in_node_then_input_order() -> None:
    doc = two_outputs()
    doc["3"]["inputs"].update(steps=0, cfg="x", scheduler="fast")
    del doc["3"]["inputs"]["seed"]
    doc["10"]["inputs"]["images"] = ["11", 4]
    doc["11"]["inputs"]["vae"] = ["4", 0]
    doc["8"]["inputs"]["vae"] = ["404", 0]
    doc["4"]["inputs"]["ckpt_name"] = 3
    report = run(doc, targets=["10", "9", "missing"])
    assert where(report) == [
        (E.BAD_PARAMETER, None, None, ""),
        (E.REQUIRED_INPUT_MISSING, "3", "seed", "/3/inputs/seed"),
        (E.VALUE_SMALLER_THAN_MIN, "3", "steps", "/3/inputs/steps"),
        (E.INVALID_INPUT_TYPE, "3", "cfg", "/3/inputs/cfg"),
        (E.VALUE_NOT_IN_LIST, "3", "scheduler", "/3/inputs/scheduler"),
        (E.VALUE_NOT_IN_LIST, "4", "ckpt_name", "/4/inputs/ckpt_name"),
        (E.LINK_TO_MISSING_NODE, "8", "vae", "/8/inputs/vae"),
        (E.BAD_OUTPUT_INDEX, "10", "images", "/10/inputs/images"),
        (E.RETURN_TYPE_MISMATCH, "11", "vae", "/11/inputs/vae"),
    ]
    assert report.failed_outputs == ("9", "10") and report.outputs == ()


def test_node_id_key_orders_numbers_numerically() -> None:
    ids = ["10", "9", "12:5", "12:10", "save_image", "2", "12"]
    assert sorted(ids, key=node_id_key) == ["2", "9", "10", "12", "12:5", "12:10", "save_image"]


# Coercion and the reported workflow -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        ("INT", "5", 5), ("INT", 5.0, 5), ("INT", 5.7, 5), ("INT", True, 1), ("INT", " 7 ", 7),
        ("FLOAT", "2.5", 2.5), ("FLOAT", 3, 3.0), ("STRING", 5, "5"), ("STRING", "a", "a"),
        ("BOOLEAN", "false", False), ("BOOLEAN", " TRUE ", True), ("BOOLEAN", 0, False), ("BOOLEAN", "yes", True),
        ("INT,FLOAT", 2.5, 2.5), ("INT,FLOAT", "3", 3), ("FLOAT,STRING", "x", "x"), ("*", {"k": 1}, {"k": 1}),
    ],
)
def test_constants_are_coerced_like_comfyui(kind: str, raw: Any, expected: Any) -> None:
    spec = make_spec("Take", [InputSpec("v", kind)], is_output=True)
    report = run({"1": {"class_type": "Take", "inputs": {"v": raw}}}, spec)
    assert report.ok
    value = report.workflow.to_api()["1"]["inputs"]["v"]
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(("kind", "raw"), [("INT", "5.0"), ("INT", None), ("INT", float("inf")), ("FLOAT", "x"),
                                           ("INT", {"__value__": [1]}), ("INT,FLOAT", "many"), ("MODEL", 3)])
def test_unconvertible_constants_are_invalid(kind: str, raw: Any) -> None:
    spec = make_spec("Take", [InputSpec("v", kind)], is_output=True)
    report = run({"1": {"class_type": "Take", "inputs": {"v": raw}}}, spec)
    assert where(report) == [(E.INVALID_INPUT_TYPE, "1", "v", "/1/inputs/v")]


def test_undeclared_inputs_are_dropped_unless_linked_into_a_node_that_accepts_extra() -> None:
    doc = {"1": {"class_type": "Number", "inputs": {"value": 1, "junk": 3, "wire": ["1", 0]}},
           "2": {"class_type": "Show", "inputs": {"value": ["1", 0], "note": "x", "more": ["1", 0]}}}
    dynamic = make_spec("Show", [InputSpec("value", "*")], is_output=True, accepts_extra=True)
    report = run(doc, NUMBER, dynamic)
    assert report.ok  # the undeclared self-link on node 1 is dropped, so it is no cycle
    assert report.workflow.to_api() == {"1": {"class_type": "Number", "inputs": {"value": 1}},
                                        "2": {"class_type": "Show", "inputs": {"value": ["1", 0], "more": ["1", 0]}}}
    doc["2"]["inputs"]["more"] = ["8", 0]
    assert where(run(doc, NUMBER, dynamic)) == [(E.LINK_TO_MISSING_NODE, "2", "more", "/2/inputs/more")]


def test_lazy_inputs_are_validated_and_raw_links_are_not_type_checked() -> None:
    spec = make_spec("Switch", [InputSpec("on", "LATENT", lazy=True), InputSpec("raw", "MODEL", raw_link=True)],
                     is_output=True)
    doc = {"1": {"class_type": "Number", "inputs": {"value": 500}},
           "2": {"class_type": "Switch", "inputs": {"on": ["1", 0], "raw": ["1", 0]}}}
    report = run(doc, NUMBER, spec)
    assert where(report) == [
        (E.VALUE_BIGGER_THAN_MAX, "1", "value", "/1/inputs/value"),
        (E.RETURN_TYPE_MISMATCH, "2", "on", "/2/inputs/on"),
    ]
    assert report.errors[1].extra["input_config"] == ["LATENT", {"lazy": True}]


# Scale --------------------------------------------------------------------------------


def chain(length: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"0": {"class_type": "Number", "inputs": {"value": 1}}}
    for i in range(1, length):
        doc[str(i)] = {"class_type": "Add", "inputs": {"a": [str(i - 1), 0], "b": "2"}}
    doc["out"] = {"class_type": "Show", "inputs": {"value": [str(length - 1), 0]}}
    return doc


def test_a_10000_node_chain_validates_without_recursion() -> None:
    report = run(chain(10_000), *TOYS)
    assert report.ok and report.outputs == ("out",) and len(report.workflow) == 10_001
    assert report.workflow["9999"].inputs["b"] == 2


def test_a_10000_node_cycle_is_found_without_recursion() -> None:
    doc = chain(10_000)
    doc["0"] = {"class_type": "Add", "inputs": {"a": ["9999", 0]}}
    report = run(doc, *TOYS)
    error = one(report)
    assert (error.code, error.node_id, error.input_name) == (E.DEPENDENCY_CYCLE, "0", "a")
    assert error.extra["cycle"] == [str(i) for i in range(10_000)]

