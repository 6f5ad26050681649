"""The live graph of one run: the submitted workflow plus the nodes that expansion adds.

A node may return a subgraph (``NodeOutput.expand``, an API-format dict) to be executed in its place: loops
re-emit their body, components unfold into their parts. Its nodes join the run as *ephemeral* nodes whose
ids are prefixed with ``"<parent id>.<call index>."`` so they are unique however often the parent expands,
and whose display id is the visible node that started the expansion. Links inside the subgraph are renamed
along with the ids; links to ids that are not in the subgraph point at nodes already in the run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from graph.workflow import Link, Node, Workflow


class DynamicGraph(Mapping[str, Node]):
    """A mapping of node id to :class:`Node` that grows during a run (ComfyUI's DYNPROMPT)."""

    def __init__(self, workflow: Workflow) -> None:
        self.original = workflow
        self._nodes: dict[str, Node] = dict(workflow.items())
        self._parent: dict[str, str] = {}
        self._display: dict[str, str] = {}

    def __getitem__(self, node_id: str) -> Node:
        return self._nodes[node_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def parent(self, node_id: str) -> str | None:
        """The node whose expansion created ``node_id`` (None for submitted nodes)."""
        return self._parent.get(node_id)

    def display_id(self, node_id: str) -> str:
        """The id a user sees for this node: itself, or the visible node that expanded into it."""
        return self._display.get(node_id, node_id)

    def is_ephemeral(self, node_id: str) -> bool:
        return node_id in self._parent

    def add_expansion(self, parent_id: str, call_index: int, graph: Mapping[str, Any], values: tuple[Any, ...]) -> tuple[list[str], tuple[Any, ...]]:
        """Add a parent's subgraph; return the new node ids and ``values`` with links renamed.

        Raises:
            ValueError: the subgraph is malformed or reuses an id already in the run.
        """
        sub = Workflow.parse(graph)
        prefix = f"{parent_id}.{call_index}."
        rename = {old: prefix + old for old in sub}
        display = self.display_id(parent_id)
        new_ids: list[str] = []
        for old_id, node in sub.items():
            new_id = rename[old_id]
            if new_id in self._nodes:
                raise ValueError(f"expansion of node {parent_id} produced id {new_id!r}, which the run already has")
            inputs = {name: _renamed(value, rename) for name, value in node.inputs.items()}
            display_override = node.extra.get("override_display_id")
            self._nodes[new_id] = Node(new_id, node.class_type, MappingProxyType(inputs), node.meta, node.extra)
            self._parent[new_id] = parent_id
            self._display[new_id] = str(display_override) if display_override is not None else display
            new_ids.append(new_id)
        return new_ids, tuple(_renamed(v, rename) for v in values)

    def to_api(self) -> dict[str, Any]:
        return {node_id: node.to_api() for node_id, node in self._nodes.items()}


def _renamed(value: Any, rename: Mapping[str, str]) -> Any:
    if isinstance(value, Link) and value.node_id in rename:
        return Link(rename[value.node_id], value.output)
    return value
