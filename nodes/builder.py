"""Building API-format workflows in Python: for tests, scripts and nodes that expand into subgraphs.

Ids are deterministic (``prefix + "1"``, ``"2"``, ...) and every builder has its own counter; there is no
class-level state shared between builders. Re-exported by :mod:`nodes.api`.
"""

from __future__ import annotations

from typing import Any

from graph.workflow import Link, Workflow


class NodeHandle:
    """A node added to a :class:`GraphBuilder`; ``out(slot)`` links to one of its outputs."""

    __slots__ = ("id", "class_type", "inputs")

    def __init__(self, node_id: str, class_type: str, inputs: dict[str, Any]) -> None:
        self.id = node_id
        self.class_type = class_type
        self.inputs = inputs

    def out(self, slot: int) -> Link:
        """A link to output ``slot`` of this node."""
        return Link(self.id, slot)

    def set_input(self, name: str, value: Any) -> None:
        self.inputs[name] = value

    def __repr__(self) -> str:
        return f"NodeHandle({self.id!r}, {self.class_type!r})"


def _api_value(value: Any) -> Any:
    """A Python input value in API format: links as ``[id, slot]``, list constants wrapped."""
    if isinstance(value, Link):
        return value.to_api()
    if isinstance(value, NodeHandle):
        return value.out(0).to_api()
    if isinstance(value, (list, tuple)):
        return {"__value__": list(value)}
    return value


class GraphBuilder:
    """Builds an API-format workflow in Python with deterministic ids (``prefix + "1"``, ``"2"``...).

        b = GraphBuilder()
        one = b.node("PrimitiveInt", value=1)
        add = b.node("IntAdd", a=one.out(0), b=2)
        b.node("PreviewAny", source=add.out(0))
        workflow = b.to_api()

    Expanding nodes return ``Result(add.out(0), expand=b)``. Each builder holds its own counter; there is
    no shared state between builders.
    """

    __slots__ = ("prefix", "_nodes", "_counter")

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self._nodes: dict[str, NodeHandle] = {}
        self._counter = 0

    def node(self, class_type: str, /, node_id: str | None = None, **inputs: Any) -> NodeHandle:
        """Add a node; input values may be constants, links (``h.out(0)``) or handles (slot 0).

        Raises:
            ValueError: ``node_id`` is already used in this builder.
        """
        if node_id is None:
            while True:
                self._counter += 1
                node_id = f"{self.prefix}{self._counter}"
                if node_id not in self._nodes:
                    break
        elif node_id in self._nodes:
            raise ValueError(f"node id {node_id!r} is already in this graph; pick another or omit node_id")
        handle = NodeHandle(node_id, class_type, dict(inputs))
        self._nodes[node_id] = handle
        return handle

    def lookup(self, node_id: str) -> NodeHandle | None:
        return self._nodes.get(node_id)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def to_api(self) -> dict[str, Any]:
        """The API-format dict, ``{id: {"class_type": ..., "inputs": {...}}}``."""
        return {
            h.id: {"class_type": h.class_type, "inputs": {k: _api_value(v) for k, v in h.inputs.items()}}
            for h in self._nodes.values()
        }

    def workflow(self) -> Workflow:
        """The graph as a parsed :class:`~graph.workflow.Workflow`."""
        return Workflow.parse(self.to_api())
