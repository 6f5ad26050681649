"""The API-format workflow as typed, immutable objects.

An API-format workflow is ``{node_id: {"class_type": str, "inputs": {name: value}, "_meta": {...}}}``. An
input value that is a two-element list ``[node_id: str, slot: int]`` is a link; any other value is a
constant, and list-valued constants are wrapped as ``{"__value__": [...]}``. :meth:`Workflow.parse` reads
that into :class:`Node` / :class:`Link` objects and :meth:`Workflow.to_api` writes it back unchanged.

Structural problems that make the document unreadable raise :class:`~graph.errors.WorkflowFormatError`
(with every problem listed); problems of meaning (unknown types, bad links, wrong values) are left to
:func:`graph.validate.validate`, which reports them all at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from graph.errors import ErrorCode, GraphError, WorkflowFormatError, pointer


@dataclass(frozen=True, slots=True)
class Link:
    """A connection from output slot ``output`` of node ``node_id``."""

    node_id: str
    output: int

    def to_api(self) -> list[Any]:
        return [self.node_id, self.output]


@dataclass(frozen=True, slots=True)
class ListValue:
    """A list-valued constant (``{"__value__": [...]}`` in the API format)."""

    items: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class BadLink:
    """A list input that is neither a link nor a wrapped constant; kept so validation can name it."""

    raw: tuple[Any, ...]


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    return value


def parse_input(value: Any) -> Any:
    """Turn one raw API-format input value into a Link, ListValue, BadLink or a plain constant."""
    if isinstance(value, list):
        if (
            len(value) == 2
            and isinstance(value[0], str)
            and isinstance(value[1], (int, float))
            and not isinstance(value[1], bool)
            and float(value[1]).is_integer()
        ):
            return Link(value[0], int(value[1]))
        return BadLink(tuple(_freeze(v) for v in value))
    if isinstance(value, dict) and len(value) == 1 and "__value__" in value:
        inner = value["__value__"]
        if isinstance(inner, list):
            return ListValue(tuple(_freeze(v) for v in inner))
    return _freeze(value)


def input_to_api(value: Any) -> Any:
    """Inverse of :func:`parse_input`."""
    if isinstance(value, Link):
        return value.to_api()
    if isinstance(value, ListValue):
        return {"__value__": [_thaw(v) for v in value.items]}
    if isinstance(value, BadLink):
        return [_thaw(v) for v in value.raw]
    return _thaw(value)


def constant_value(value: Any) -> Any:
    """The Python value a node receives for a constant input (lists and dicts thawed)."""
    if isinstance(value, ListValue):
        return [_thaw(v) for v in value.items]
    return _thaw(value)


@dataclass(frozen=True, slots=True)
class Node:
    """One node of a workflow. ``class_type`` is None when the document omitted it."""

    id: str
    class_type: str | None
    inputs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    meta: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    #: Other top-level keys of the node object, kept for a lossless round trip.
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def links(self) -> Iterator[tuple[str, Link]]:
        """(input name, link) for every linked input."""
        for name, value in self.inputs.items():
            if isinstance(value, Link):
                yield name, value

    @property
    def title(self) -> str | None:
        title = self.meta.get("title")
        return title if isinstance(title, str) else None

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.class_type is not None:
            out["class_type"] = self.class_type
        out["inputs"] = {k: input_to_api(v) for k, v in self.inputs.items()}
        if self.meta:
            out["_meta"] = _thaw(self.meta)
        for k, v in self.extra.items():
            out[k] = _thaw(v)
        return out

    def with_inputs(self, **changes: Any) -> Node:
        """A copy with some inputs replaced by raw API-format values."""
        inputs = dict(self.inputs)
        for name, raw in changes.items():
            inputs[name] = parse_input(raw)
        return Node(self.id, self.class_type, MappingProxyType(inputs), self.meta, self.extra)


class Workflow(Mapping[str, Node]):
    """An immutable API-format workflow: a mapping of node id to :class:`Node`."""

    __slots__ = ("_nodes",)

    def __init__(self, nodes: Mapping[str, Node]) -> None:
        self._nodes: Mapping[str, Node] = MappingProxyType(dict(nodes))

    def __getitem__(self, node_id: str) -> Node:
        return self._nodes[node_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __repr__(self) -> str:
        return f"Workflow({len(self)} nodes)"

    @classmethod
    def parse(cls, data: Any) -> Workflow:
        """Read an API-format workflow (a dict already decoded from JSON).

        Raises:
            WorkflowFormatError: the document is not an object of node objects; lists every offender.
        """
        if isinstance(data, Workflow):
            return data
        if not isinstance(data, Mapping):
            raise WorkflowFormatError(
                [GraphError(ErrorCode.INVALID_WORKFLOW, f"a workflow must be a JSON object of nodes, got {type(data).__name__}")]
            )
        nodes: dict[str, Node] = {}
        errors: list[GraphError] = []
        for raw_id, raw in data.items():
            node_id = str(raw_id)
            if not isinstance(raw, Mapping):
                errors.append(
                    GraphError(
                        ErrorCode.INVALID_WORKFLOW,
                        f"node {node_id} must be an object with class_type and inputs, got {type(raw).__name__}",
                        node_id=node_id,
                        pointer=pointer(node_id),
                    )
                )
                continue
            raw_inputs = raw.get("inputs", {})
            if not isinstance(raw_inputs, Mapping):
                errors.append(
                    GraphError(
                        ErrorCode.INVALID_WORKFLOW,
                        f"node {node_id}: 'inputs' must be an object of input name to value or link",
                        node_id=node_id,
                        pointer=pointer(node_id, "inputs"),
                    )
                )
                continue
            class_type = raw.get("class_type")
            meta = raw.get("_meta") if isinstance(raw.get("_meta"), Mapping) else {}
            extra = {k: _freeze(v) for k, v in raw.items() if k not in ("class_type", "inputs", "_meta")}
            nodes[node_id] = Node(
                id=node_id,
                class_type=class_type if isinstance(class_type, str) else None,
                inputs=MappingProxyType({str(k): parse_input(v) for k, v in raw_inputs.items()}),
                meta=_freeze(dict(meta)),
                extra=MappingProxyType(extra),
            )
        if errors:
            raise WorkflowFormatError(errors)
        return cls(nodes)

    def to_api(self) -> dict[str, Any]:
        """The API-format dict (JSON-ready); ``Workflow.parse(w.to_api()) == w``."""
        return {node_id: node.to_api() for node_id, node in self._nodes.items()}

    def replace(self, *nodes: Node) -> Workflow:
        """A copy with the given nodes added or replaced."""
        merged = dict(self._nodes)
        for node in nodes:
            merged[node.id] = node
        return Workflow(merged)

    def set_input(self, node_id: str, name: str, raw_value: Any) -> Workflow:
        """A copy with one input set to a raw API-format value."""
        return self.replace(self[node_id].with_inputs(**{name: raw_value}))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Workflow):
            return NotImplemented
        return self.to_api() == other.to_api()

    __hash__ = None  # type: ignore[assignment]
