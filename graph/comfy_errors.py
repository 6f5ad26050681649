"""Validation results in ComfyUI's response shapes, and as text for a terminal.

``POST /prompt`` answers 400 with ``{"error": {...}, "node_errors": {...}}`` when no output can run, and
200 with ``node_errors`` listing the failed outputs' problems when some can (comfyui-reference 1.3). Each
reason keeps ComfyUI's keys (``type``, ``message``, ``details``, ``extra_info``) with ComfyUI's short
``message`` for its type, so clients that switch on them keep working; latentloom adds two keys of its
own beside them: ``pointer`` (a JSON pointer into the submitted workflow) and ``explanation`` (the full
sentence from :class:`~graph.errors.GraphError`).

Which top-level error a 400 carries follows ComfyUI's order of checks: a node without a usable
``class_type`` first (``invalid_prompt``, with empty ``node_errors``), then no output
(``prompt_no_outputs``), then ``prompt_outputs_failed_validation``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from graph.errors import ErrorCode, GraphError
from graph.validate import ValidationReport

__all__ = ["comfy_error_response", "comfy_node_errors", "comfy_reason", "format_errors"]

#: ComfyUI's short ``message`` per error type; types ComfyUI lacks get one in the same style.
_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.MISSING_CLASS_TYPE: "Node is missing the class_type property",
    ErrorCode.UNKNOWN_NODE_TYPE: "Node type does not exist",
    ErrorCode.REQUIRED_INPUT_MISSING: "Required input is missing",
    ErrorCode.BAD_LINKED_INPUT: "Bad linked input, must be a length-2 list of [node_id, slot_index]",
    ErrorCode.LINK_TO_MISSING_NODE: "Linked node does not exist",
    ErrorCode.BAD_OUTPUT_INDEX: "Linked output index does not exist",
    ErrorCode.RETURN_TYPE_MISMATCH: "Return type mismatch between linked nodes",
    ErrorCode.VALUE_NOT_IN_LIST: "Value not in list",
    ErrorCode.DEPENDENCY_CYCLE: "Dependency cycle detected",
    ErrorCode.CUSTOM_VALIDATION_FAILED: "Custom validation failed for node",
    ErrorCode.EXCEPTION_DURING_VALIDATION: "Exception when validating node",
    ErrorCode.NO_OUTPUTS: "Prompt has no outputs",
    ErrorCode.BAD_PARAMETER: "Invalid parameter",
    ErrorCode.INVALID_WORKFLOW: "Invalid prompt",
}

_CLASS_CODES = (ErrorCode.MISSING_CLASS_TYPE, ErrorCode.UNKNOWN_NODE_TYPE)


def comfy_message(error: GraphError) -> str:
    """ComfyUI's short message for an error ("Value 0 smaller than min of 1", "Value not in list" ...)."""
    code = error.code
    config = error.extra.get("input_config")
    options = config[1] if isinstance(config, list) and len(config) == 2 else {}
    if code is ErrorCode.VALUE_SMALLER_THAN_MIN:
        return f"Value {error.extra.get('received_value')} smaller than min of {options.get('min')}"
    if code is ErrorCode.VALUE_BIGGER_THAN_MAX:
        return f"Value {error.extra.get('received_value')} bigger than max of {options.get('max')}"
    if code is ErrorCode.INVALID_INPUT_TYPE:
        kind = config[0] if isinstance(config, list) and config and isinstance(config[0], str) else "valid"
        return f"Failed to convert an input value to a {kind} value"
    return _MESSAGES.get(code, code.value)


def comfy_reason(error: GraphError) -> dict[str, Any]:
    """One error as a ComfyUI reason dict, plus latentloom's ``pointer`` and ``explanation``."""
    return {
        "type": error.code.value,
        "message": comfy_message(error),
        "details": error.details,
        "extra_info": copy.deepcopy(dict(error.extra)),
        "pointer": error.pointer,
        "explanation": error.message,
    }


def comfy_node_errors(report: ValidationReport) -> dict[str, Any]:
    """ComfyUI's ``node_errors``: node id -> ``{"errors", "dependent_outputs", "class_type"}``.

    Only nodes with errors of their own appear; errors on node types (reported by ComfyUI as
    ``invalid_prompt`` instead) and workflow-wide errors do not.
    """
    node_errors: dict[str, Any] = {}
    for error in report.errors:
        if error.node_id is None or error.code in _CLASS_CODES:
            continue
        entry = node_errors.get(error.node_id)
        if entry is None:
            node = report.workflow.get(error.node_id)
            entry = node_errors[error.node_id] = {
                "errors": [],
                "dependent_outputs": list(report.dependent_outputs(error.node_id)),
                "class_type": node.class_type if node is not None else None,
            }
        entry["errors"].append(comfy_reason(error))
    return node_errors


def comfy_error_response(report: ValidationReport) -> dict[str, Any] | None:
    """The 400 body for a workflow none of whose outputs can run, or None when some can.

    When None, queue ``report.outputs`` and answer 200 with ``comfy_node_errors(report)`` as
    ``node_errors`` (empty when nothing failed).
    """
    if report.outputs:
        return None
    class_error = next((e for e in report.errors if e.code in _CLASS_CODES), None)
    if class_error is not None:
        if class_error.code is ErrorCode.UNKNOWN_NODE_TYPE:
            message = f"Cannot execute because node {class_error.extra.get('class_type')} does not exist."
        else:
            message = "Cannot execute because a node is missing the class_type property."
        top = _top("invalid_prompt", message, class_error.details)
        top.update(pointer=class_error.pointer, explanation=class_error.message)
        return {"error": top, "node_errors": {}}
    no_outputs = next((e for e in report.errors if e.code is ErrorCode.NO_OUTPUTS), None)
    if no_outputs is not None:
        top = _top(ErrorCode.NO_OUTPUTS.value, _MESSAGES[ErrorCode.NO_OUTPUTS], "")
        top.update(pointer="", explanation=no_outputs.message)
        return {"error": top, "node_errors": {}}
    details = "\n".join(f"{comfy_message(e)}: {e.details}" for e in report.errors)
    top = _top("prompt_outputs_failed_validation", "Prompt outputs failed validation", details)
    top["explanation"] = "\n".join(e.message for e in report.errors)
    return {"error": top, "node_errors": comfy_node_errors(report)}


def _top(kind: str, message: str, details: str) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": {}}


def format_errors(errors: Sequence[GraphError]) -> str:
    """Readable text, one line per error, for a terminal, e.g. (one line)::

        node 3 (KSampler) input 'steps': expected an INT between 1 and 10000, got 0
            [value_smaller_than_min] at /3/inputs/steps
    """
    return "\n".join(_format_one(error) for error in errors)


def _format_one(error: GraphError) -> str:
    where, body = _split(error)
    at = f" at {error.pointer}" if error.pointer else ""
    return f"{where}: {body}  [{error.code.value}]{at}"


def _split(error: GraphError) -> tuple[str, str]:
    """(``node 3 (KSampler) input 'steps'``, the rest) from a message with validate's lead-in
    ``"KSampler node 3, input 'steps': "``; messages without it are kept whole."""
    if error.node_id is None:
        return "workflow", error.message
    lead = f"node {error.node_id}" + (f", input '{error.input_name}'" if error.input_name else "") + ": "
    at = error.message.find(lead)
    type_name = error.message[: at - 1] if at > 0 and error.message[at - 1] == " " else ""
    where = f"node {error.node_id}" + (f" ({type_name})" if type_name else "")
    where += f" input '{error.input_name}'" if error.input_name else ""
    if at == 0 or type_name:
        return where, error.message[at + len(lead):]
    return where, error.message
