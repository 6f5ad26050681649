"""Errors are values with a location.

Validation returns a list of :class:`GraphError` (never raises on the first one); a node that fails at run
time is reported as a :class:`NodeFailed` value. Codes are stable strings; where ComfyUI has a name for the
same error, the code is that name, so clients that switch on ComfyUI's error types keep working.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class ErrorCode(str, Enum):
    """Stable error codes (the ``type`` of ComfyUI's error objects)."""

    INVALID_WORKFLOW = "invalid_prompt"  # the document is not an API-format workflow at all
    MISSING_CLASS_TYPE = "missing_class_type"
    UNKNOWN_NODE_TYPE = "unknown_node_type"
    REQUIRED_INPUT_MISSING = "required_input_missing"
    BAD_LINKED_INPUT = "bad_linked_input"  # a list value that is not a [node_id, slot] link
    LINK_TO_MISSING_NODE = "link_to_missing_node"
    BAD_OUTPUT_INDEX = "bad_output_index"
    RETURN_TYPE_MISMATCH = "return_type_mismatch"
    INVALID_INPUT_TYPE = "invalid_input_type"  # a constant that cannot be coerced to the input's type
    VALUE_SMALLER_THAN_MIN = "value_smaller_than_min"
    VALUE_BIGGER_THAN_MAX = "value_bigger_than_max"
    VALUE_NOT_IN_LIST = "value_not_in_list"
    DEPENDENCY_CYCLE = "dependency_cycle"
    CUSTOM_VALIDATION_FAILED = "custom_validation_failed"
    EXCEPTION_DURING_VALIDATION = "exception_during_validation"
    NO_OUTPUTS = "prompt_no_outputs"
    BAD_PARAMETER = "bad_parameter"


@dataclass(frozen=True, slots=True)
class GraphError:
    """One problem found in a workflow.

    Args:
        code: a stable :class:`ErrorCode`.
        message: one sentence that says what is wrong and what was expected.
        node_id: the node concerned (None for workflow-wide errors).
        input_name: the input concerned, when there is one.
        pointer: a JSON pointer into the submitted workflow (``/5/inputs/seed``).
        details: ComfyUI's short ``details`` string.
        extra: ComfyUI's ``extra_info`` (input_name, received_value, ...).
    """

    code: ErrorCode
    message: str
    node_id: str | None = None
    input_name: str | None = None
    pointer: str = ""
    details: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        where = f"node {self.node_id}" if self.node_id is not None else "workflow"
        if self.input_name:
            where += f", input '{self.input_name}'"
        return f"[{self.code.value}] {where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (latentloom's own error shape)."""
        return {
            "code": self.code.value,
            "message": self.message,
            "node_id": self.node_id,
            "input_name": self.input_name,
            "pointer": self.pointer,
            "details": self.details,
            "extra_info": dict(self.extra),
        }


def pointer(*parts: str) -> str:
    """A JSON pointer (RFC 6901) from path parts."""
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


class WorkflowFormatError(ValueError):
    """The document could not be read as a workflow; ``errors`` says why, each with a pointer."""

    def __init__(self, errors: Sequence[GraphError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


class ValidationFailed(ValueError):
    """Raised by convenience entry points when validation found errors (the list is in ``errors``)."""

    def __init__(self, errors: Sequence[GraphError]) -> None:
        self.errors = list(errors)
        lines = "\n".join(f"  - {e}" for e in self.errors)
        super().__init__(f"{len(self.errors)} validation error(s):\n{lines}")


class Interrupted(Exception):
    """Raised inside a node when the run was cancelled; the executor reports an interrupted outcome."""


@dataclass(frozen=True, slots=True)
class NodeFailed:
    """A node raised during a run.

    Args:
        node_id: the failing node (its display id for expanded nodes is in ``display_node_id``).
        type_name: its class_type.
        exception_type: the fully qualified exception class name.
        message: ``str(exception)``.
        traceback: formatted traceback lines.
        inputs: the inputs it received, truncated to short reprs (ComfyUI's ``current_inputs``).
    """

    node_id: str
    type_name: str
    exception_type: str
    message: str
    traceback: tuple[str, ...] = ()
    inputs: Mapping[str, list[Any]] = field(default_factory=dict)
    display_node_id: str | None = None

    def __str__(self) -> str:
        return f"node {self.node_id} ({self.type_name}) failed: {self.exception_type}: {self.message}"
