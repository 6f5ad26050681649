"""latentloom's engine: workflows, validation, scheduling, caching and execution.

This package imports no torch, no diffusers and nothing from ``nodes`` or ``server``. It sees nodes only
through :class:`graph.spec.NodeSpec` objects handed out by a registry (any object with a
``spec(type_name)`` method, see :class:`graph.spec.Registry`).
"""

from graph.errors import (
    ErrorCode,
    GraphError,
    Interrupted,
    NodeFailed,
    WorkflowFormatError,
)
from graph.spec import (
    ExecutionBlocker,
    HiddenSpec,
    InputSpec,
    NodeOutput,
    NodeSpec,
    OutputSpec,
    Registry,
)
from graph.workflow import Link, Node, Workflow

__all__ = [
    "ErrorCode",
    "ExecutionBlocker",
    "GraphError",
    "HiddenSpec",
    "InputSpec",
    "Interrupted",
    "Link",
    "Node",
    "NodeFailed",
    "NodeOutput",
    "NodeSpec",
    "OutputSpec",
    "Registry",
    "Workflow",
    "WorkflowFormatError",
]
