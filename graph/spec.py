"""The contract between the engine and nodes.

A :class:`NodeSpec` is everything the engine knows about a node type: its typed input and output ports,
its flags, and the callables it may invoke (run, validate, fingerprint, lazy check). Node authoring APIs
(``nodes.api`` for latentloom's native typed functions, ``nodes.comfy`` for ComfyUI's class convention)
both produce these frozen objects; the engine never inspects node classes itself.

Port types are ComfyUI's strings: ``INT``, ``FLOAT``, ``STRING``, ``BOOLEAN``, ``COMBO`` and data types
such as ``MODEL`` or ``LATENT``; ``*`` matches anything and ``"FLOAT,INT"`` is a union.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

#: Widget (constant-valued) port types and the Python types their constants are coerced to.
PRIMITIVE_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")

HiddenKind = Literal["PROMPT", "EXTRA_PNGINFO", "UNIQUE_ID", "DYNPROMPT", "AUTH_TOKEN_COMFY_ORG", "API_KEY_COMFY_ORG"]


class _Missing:
    """Sentinel type for "no default" (``None`` is a legitimate default)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


@dataclass(frozen=True, slots=True)
class InputSpec:
    """One input port.

    Args:
        name: the input's name, as used in the workflow's ``inputs`` dict.
        type: the port type (``INT``, ``COMBO``, ``MODEL``, ``*``, ``FLOAT,INT`` ...).
        required: whether a workflow must supply it.
        default: the widget default (``MISSING`` for none); only informs UIs and the object_info shape.
        min, max: inclusive numeric bounds for ``INT`` / ``FLOAT``.
        choices: the allowed values of a ``COMBO``: a sequence, or a callable returning one (model files
            listed at validation time).
        lazy: the node asks for this input on demand (see ``NodeSpec.check_lazy``).
        raw_link: the node receives the link ``[node_id, slot]`` itself instead of the value.
        options: every other UI option (tooltip, step, round, multiline, ...), passed through to
            /object_info as given.
    """

    name: str
    type: str
    required: bool = True
    default: Any = MISSING
    min: float | int | None = None
    max: float | int | None = None
    choices: Sequence[Any] | Callable[[], Sequence[Any]] | None = None
    lazy: bool = False
    raw_link: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)

    def resolved_choices(self) -> Sequence[Any] | None:
        """The choices of a COMBO, calling the provider if they are computed."""
        if callable(self.choices):
            return list(self.choices())
        return self.choices


@dataclass(frozen=True, slots=True)
class HiddenSpec:
    """A hidden input filled by the engine (the workflow, PNG info, the node's own id...)."""

    name: str
    kind: HiddenKind


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """One output port; ``is_list`` is ComfyUI's OUTPUT_IS_LIST for this slot."""

    name: str
    type: str
    is_list: bool = False
    tooltip: str | None = None


class NodeInstance(Protocol):
    """What the executor calls. One instance per (node id, type) lives in the executor's object cache."""

    def run(self, **inputs: Any) -> Any:
        """Compute; returns a :class:`NodeOutput` (or an awaitable of one for async nodes)."""

    def check_lazy(self, **inputs: Any) -> Sequence[str]:
        """Names of lazy inputs still needed, given those available (unevaluated ones are None)."""


@dataclass(frozen=True, slots=True)
class NodeOutput:
    """A node's normalised result.

    Args:
        values: one value per output slot (for list outputs, a list of items).
        ui: data shown to the user (``{"images": [...]}``, ``{"text": [...]}``) or None.
        expand: an API-format graph that runs in the node's place; ``values`` may then hold
            ``[node_id, slot]`` links into it.
        block: an :class:`ExecutionBlocker` for every output at once.
    """

    values: tuple[Any, ...] = ()
    ui: Mapping[str, Any] | None = None
    expand: Mapping[str, Any] | None = None


class ExecutionBlocker:
    """An output value that stops every node that receives it. ``message`` None blocks silently."""

    __slots__ = ("message",)

    def __init__(self, message: str | None) -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"ExecutionBlocker({self.message!r})"


@dataclass(frozen=True)
class NodeSpec:
    """Everything the engine knows about a node type.

    Behaviour is explicit fields, never probed with ``hasattr``:

    Args:
        type_name: the unique class name used as ``class_type`` in workflows.
        inputs: declared input ports, in declaration order.
        outputs: output ports, in slot order.
        create: returns a fresh :class:`NodeInstance`.
        hidden: hidden inputs the engine fills.
        is_output: an output node (a root of execution).
        input_is_list: ComfyUI's INPUT_IS_LIST: called once with every input as a whole list.
        not_idempotent: never share a cached result with an identical node elsewhere in the graph.
        accepts_extra: undeclared *linked* inputs are passed through (dynamic-input nodes).
        validate: the node's own check of its constant inputs; returns True or an error string.
        validate_args: the input names ``validate`` receives (range/choice checks are skipped for them,
            as in ComfyUI); ``validate_types`` asks for the received link types as ``input_types``.
        fingerprint: ComfyUI's IS_CHANGED: called with the constant inputs; its value joins the cache key.
            Return ``float("nan")`` to always re-run.
        is_async: ``run`` returns an awaitable.
        version: bumps invalidate cached results (persistent caches survive restarts).
    """

    type_name: str
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...]
    create: Callable[[], NodeInstance]
    hidden: tuple[HiddenSpec, ...] = ()
    is_output: bool = False
    input_is_list: bool = False
    not_idempotent: bool = False
    accepts_extra: bool = False
    has_lazy_check: bool = False
    validate: Callable[..., Any] | None = None
    validate_args: frozenset[str] | None = None
    validate_types: bool = False
    fingerprint: Callable[..., Any] | None = None
    is_async: bool = False
    version: str = "1"
    category: str = "sd"
    display_name: str | None = None
    description: str = ""
    python_module: str = "nodes"
    deprecated: bool = False
    experimental: bool = False
    extra_info: Mapping[str, Any] = field(default_factory=dict)

    def input(self, name: str) -> InputSpec | None:
        """The declared input called ``name``, or None."""
        return self._inputs_by_name().get(name)

    def _inputs_by_name(self) -> dict[str, InputSpec]:
        cached = self.__dict__.get("_by_name")
        if cached is None:
            cached = {i.name: i for i in self.inputs}
            object.__setattr__(self, "_by_name", cached)
        return cached


class Registry(Protocol):
    """What the engine needs from a node registry."""

    def spec(self, type_name: str) -> NodeSpec | None:
        """The spec for ``type_name``, or None when no such node type is registered."""


def types_match(output_type: str, input_type: str) -> bool:
    """ComfyUI's link type rule: equal, ``*`` on either side, or comma unions that intersect."""
    if output_type == input_type or output_type == "*" or input_type == "*":
        return True
    if "," in output_type or "," in input_type:
        a = {t.strip() for t in output_type.split(",")}
        b = {t.strip() for t in input_type.split(",")}
        return bool(a & b) or "*" in a or "*" in b
    return False
