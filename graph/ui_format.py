"""UI-format workflows (what the editor saves, schema 0.4 and 1) converted to the API format.

The editor's own converter (``graphToPrompt`` in ComfyUI's frontend) is the reference; comfyui-reference 3.3
gives its rules. :func:`convert_ui` applies them on the server side with the node specs of a registry:

1. **Scopes.** The root graph is one scope; every subgraph instance (a node whose ``type`` is the id of an
   entry of ``definitions.subgraphs``) and every legacy group node (``type`` ``"workflow>Name"`` with its
   definition in ``extra.groupNodes``) opens an inner scope whose nodes get execution ids
   ``"<instance id>:<inner id>"`` (nested: ``"1:2:3"``). A group node is rewritten as a subgraph first:
   its inner nodes are numbered by their ``index``; the inputs of inner nodes that no inner link feeds and
   that are not widgets become the instance's inputs, in inner node order; the outputs no inner link uses
   (or listed in ``external``) become its outputs; its ``widgets_values`` replace, in order, the values of
   the inner widgets that no inner link feeds.
2. **Widgets.** A node's ``widgets_values`` are read by position against the layouts of
   :mod:`graph.ui_widgets` (client-only widgets such as ``control_after_generate`` are skipped); a count
   that fits no layout is an ``invalid_prompt`` error naming the widgets expected. A ``widgets_values``
   object (some custom nodes) is read by name; a node without ``widgets_values`` keeps its defaults.
   List values are wrapped as ``{"__value__": [...]}``.
3. **Links.** Every connected input is resolved to its source: through legacy ``Reroute`` nodes; to the
   value of a ``PrimitiveNode``; through bypassed nodes (mode 4) to their first input of the output's
   type, the same slot index first; into subgraph and group instances to the producing inner node; out of
   them to what feeds the instance's input, or to the instance's promoted widget value. A connected widget
   input overrides the widget's value. An input whose source is muted (mode 2), a note, or nothing at all
   is left out; an inner widget fed by an unconnected subgraph input keeps its own value.
4. **Nodes kept.** Virtual nodes (``PrimitiveNode``, ``Reroute``, ``Note``, ``MarkdownNote``), muted and
   bypassed nodes and the instances themselves are not written. Every other node must have a registered
   type (``unknown_node_type`` otherwise, with "did you mean" hints).

Errors are :class:`~graph.errors.GraphError` values whose pointers point into the UI document
(``/nodes/3/widgets_values``, ``/definitions/subgraphs/0/nodes/1/type``) and whose ``node_id`` is the
execution id; all of them are raised at once in a :class:`~graph.errors.WorkflowFormatError`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from graph.errors import ErrorCode, GraphError, WorkflowFormatError, pointer
from graph.spec import MISSING, NodeSpec, Registry
from graph.ui_widgets import Slot, is_widget, layouts, match_layout

__all__ = ["convert_ui", "declared_models", "is_ui_workflow"]

MUTED, BYPASSED = 2, 4
SUBGRAPH_INPUT, SUBGRAPH_OUTPUT = "-10", "-20"
NOTE_TYPES = frozenset({"Note", "MarkdownNote"})
VIRTUAL_TYPES = NOTE_TYPES | {"PrimitiveNode", "Reroute"}
GROUP_PREFIXES = ("workflow>", "workflow/")
MAX_DEPTH = 32


def is_ui_workflow(doc: Any) -> bool:
    """True for a UI-format document (``{"nodes": [...], "links": ...}``); an API graph maps ids to nodes."""
    return isinstance(doc, Mapping) and isinstance(doc.get("nodes"), list)


def convert_ui(doc: Mapping[str, Any], registry: Registry) -> dict[str, Any]:
    """The API-format prompt of a UI-format workflow (see the module docstring for the rules).

    Raises:
        WorkflowFormatError: unknown node types, widget values that fit no layout of the node's spec, or a
            document that is not a UI workflow; every problem at once.
    """
    return _Converter(doc, registry).run()


def declared_models(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The model files a UI workflow says it needs: top-level ``models`` and each node's
    ``properties.models`` (``{"name", "directory", "url"?}``), without duplicates."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    entries: list[Any] = list(doc.get("models") or [])
    for nodes in _all_node_lists(doc):
        for node in nodes:
            props = node.get("properties") if isinstance(node, Mapping) else None
            if isinstance(props, Mapping):
                entries.extend(props.get("models") or [])
    for entry in entries:
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str) and isinstance(entry.get("directory"), str):
            found.setdefault((entry["directory"], entry["name"]), dict(entry))
    return list(found.values())


def _all_node_lists(doc: Mapping[str, Any]) -> Iterator[list[Any]]:
    yield list(doc.get("nodes") or [])
    for sub in _subgraph_definitions(doc):
        yield list(sub.get("nodes") or [])


def _subgraph_definitions(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found: list[Mapping[str, Any]] = []
    stack = [doc]
    while stack:
        definitions = stack.pop().get("definitions")
        subs = definitions.get("subgraphs") if isinstance(definitions, Mapping) else None
        for sub in subs if isinstance(subs, list) else []:
            if isinstance(sub, Mapping):
                found.append(sub)
                stack.append(sub)
    return found


# ------------------------------------------------------------------------------------------------------
# Scopes and links


@dataclass(frozen=True, slots=True)
class _Link:
    origin: str
    origin_slot: int
    target: str
    target_slot: int
    type: str


@dataclass(frozen=True, slots=True)
class _Ref:
    """A resolved source: output ``slot`` of the node with execution id ``node``."""

    node: str
    slot: int


@dataclass(frozen=True, slots=True)
class _Value:
    """A resolved source that is a constant (a PrimitiveNode, a promoted widget)."""

    value: Any


_KEEP_WIDGET = object()  # a subgraph input with nothing behind it: the inner widget keeps its value
_END = object()


@dataclass
class _Scope:
    """One graph level: the root, or the inside of one subgraph or group node instance."""

    prefix: str
    nodes: dict[str, Mapping[str, Any]]
    pointers: dict[str, str]
    links: dict[str, _Link]
    parent: _Scope | None = None
    instance: Mapping[str, Any] | None = None  # the instance node, in the parent scope
    boundary: list[Mapping[str, Any] | None] = field(default_factory=list)  # instance inputs by slot
    promoted: dict[int, Any] = field(default_factory=dict)  # subgraph input slot -> promoted widget value
    overrides: dict[tuple[str, str], Any] = field(default_factory=dict)  # (inner id, widget) -> value
    inner: dict[str, _Scope | None] = field(default_factory=dict)  # instance id -> its scope (memo)
    depth: int = 0


def _read_links(raw: Any) -> dict[str, _Link]:
    """Links of schema 0.4 (``[id, origin, slot, target, slot, type]``) or 1 (objects), by id."""
    links: dict[str, _Link] = {}
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, list) and len(item) >= 5:
            link_id, origin, origin_slot, target, target_slot = item[:5]
            kind = item[5] if len(item) > 5 else "*"
        elif isinstance(item, Mapping) and "id" in item:
            link_id, origin, origin_slot = item["id"], item.get("origin_id"), item.get("origin_slot", 0)
            target, target_slot, kind = item.get("target_id"), item.get("target_slot", 0), item.get("type", "*")
        else:
            continue
        try:
            links[str(link_id)] = _Link(str(origin), int(origin_slot or 0), str(target), int(target_slot or 0), str(kind))
        except (TypeError, ValueError):  # a malformed link counts as no link
            continue
    return links


def _id(node: Mapping[str, Any]) -> str:
    return str(node.get("id"))


def _mode(node: Mapping[str, Any]) -> int:
    mode = node.get("mode", 0)
    return mode if isinstance(mode, int) else 0


def _slots(node: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = node.get(key)
    return [i if isinstance(i, Mapping) else {} for i in items] if isinstance(items, list) else []


def _input_name(entry: Mapping[str, Any]) -> str:
    widget = entry.get("widget")
    if isinstance(widget, Mapping) and isinstance(widget.get("name"), str):
        return str(widget["name"])
    return str(entry.get("name", ""))


def _wrap(value: Any) -> Any:
    return {"__value__": value} if isinstance(value, list) else value


def _types_match(a: Any, b: Any) -> bool:
    return a == b or a in ("*", "", None) or b in ("*", "", None)


# ------------------------------------------------------------------------------------------------------
# The converter


class _Converter:
    """The state of one :func:`convert_ui` call."""

    def __init__(self, doc: Mapping[str, Any], registry: Registry) -> None:
        self.doc = doc
        self.registry = registry
        self.errors: list[GraphError] = []
        self.out: dict[str, Any] = {}
        self.subgraphs: dict[str, tuple[Mapping[str, Any], str]] = {}
        for i, sub in enumerate(_subgraph_definitions(doc)):
            self.subgraphs.setdefault(str(sub.get("id")), (sub, f"/definitions/subgraphs/{i}"))
        extra = doc.get("extra")
        groups = extra.get("groupNodes") if isinstance(extra, Mapping) else None
        self.groups: Mapping[str, Any] = groups if isinstance(groups, Mapping) else {}
        self.specs: dict[str, NodeSpec | None] = {}

    def run(self) -> dict[str, Any]:
        if not is_ui_workflow(self.doc):
            raise WorkflowFormatError([GraphError(ErrorCode.INVALID_WORKFLOW, "a UI-format workflow needs a 'nodes' list")])
        nodes = self.doc["nodes"]
        root = _Scope("", {}, {}, _read_links(self.doc.get("links")))
        for i, node in enumerate(nodes):
            if isinstance(node, Mapping):
                root.nodes[_id(node)] = node
                root.pointers[_id(node)] = f"/nodes/{i}"
        self._emit_scope(root)
        if self.errors:
            raise WorkflowFormatError(self.errors)
        return self.out

    def spec(self, type_name: str) -> NodeSpec | None:
        if type_name not in self.specs:
            self.specs[type_name] = self.registry.spec(type_name)
        return self.specs[type_name]

    # -- writing nodes ---------------------------------------------------------------------------------

    def _emit_scope(self, scope: _Scope) -> None:
        order = sorted(scope.nodes.items(), key=lambda kv: (kv[1].get("order", 0) if isinstance(kv[1].get("order"), int) else 0))
        for node_id, node in order:
            mode, kind = _mode(node), node.get("type")
            if mode in (MUTED, BYPASSED) or kind in VIRTUAL_TYPES:
                continue
            where = scope.pointers[node_id]
            if not isinstance(kind, str) or not kind:
                self._error(ErrorCode.MISSING_CLASS_TYPE, scope.prefix + node_id, where + "/type",
                            "the node has no type; every node must name its node type, e.g. \"KSampler\"")
                continue
            inner = self._inner_scope(scope, node_id)
            if inner is not None:
                self._emit_scope(inner)
                continue
            if self._is_instance(kind):
                continue  # nested too deep: reported by _inner_scope
            spec = self.spec(kind)
            if spec is None:
                self._unknown(scope.prefix + node_id, kind, where)
                continue
            self._emit_node(scope, node_id, node, spec)

    def _emit_node(self, scope: _Scope, node_id: str, node: Mapping[str, Any], spec: NodeSpec) -> None:
        exec_id = scope.prefix + node_id
        inputs: dict[str, Any] = {}
        values = node.get("widgets_values")
        if values is None:  # never saved with values: every widget keeps its default
            inputs.update((i.name, _wrap(i.default)) for i in spec.inputs if is_widget(i) and i.default is not MISSING)
        elif isinstance(values, Mapping):  # by name (some custom nodes save an object)
            inputs.update((k, _wrap(v)) for k, v in values.items() if spec.input(str(k)) is not None)
        elif isinstance(values, list):
            slots = self._layout(spec, values, exec_id, scope.pointers[node_id])
            if slots is None:
                return
            inputs.update((s.name, _wrap(v)) for s, v in zip(slots, values, strict=True) if s.input is not None)
        for (inner_id, name), value in scope.overrides.items():
            if inner_id == node_id:
                inputs[name] = _wrap(value)
        for entry in _slots(node, "inputs"):
            if entry.get("link") is None:
                continue
            name = _input_name(entry)
            source = self._source(scope, entry["link"], set())
            if isinstance(source, _Ref):
                inputs[name] = [source.node, source.slot]
            elif isinstance(source, _Value):
                inputs[name] = _wrap(source.value)
            elif source is not _KEEP_WIDGET:
                inputs.pop(name, None)
        title = node.get("title") if isinstance(node.get("title"), str) else spec.display_name or spec.type_name
        self.out[exec_id] = {"inputs": inputs, "class_type": spec.type_name, "_meta": {"title": title}}

    def _layout(self, spec: NodeSpec, values: list[Any], exec_id: str, where: str) -> list[Slot] | None:
        candidates = layouts(spec)
        chosen = match_layout(candidates, values)
        if chosen is None:
            expected = [s.name for s in candidates[0]] if candidates else []
            self._error(
                ErrorCode.INVALID_WORKFLOW, exec_id, where + "/widgets_values",
                f"{spec.type_name} node {exec_id}: widgets_values holds {len(values)} value(s) but {spec.type_name} "
                f"has {len(expected)} widget(s) {expected}; the workflow was saved with another version of "
                f"this node (open and save it again in the editor, or fix the values in that order)",
                details=f"widgets_values: expected {len(expected)} values, got {len(values)}",
                extra={"class_type": spec.type_name, "expected_widgets": expected, "received_value": values})
        return chosen

    # -- resolving links -------------------------------------------------------------------------------

    def _source(self, scope: _Scope, link_id: Any, seen: set[tuple[int, str, int]]) -> Any:
        link = scope.links.get(str(link_id))
        if link is None:  # a stale link id: the input counts as unconnected
            return _KEEP_WIDGET
        return self._origin(scope, link.origin, link.origin_slot, seen)

    def _origin(self, scope: _Scope, node_id: str, slot: int, seen: set[tuple[int, str, int]]) -> Any:
        """What output ``slot`` of ``node_id`` in ``scope`` stands for: a _Ref, a _Value, _KEEP_WIDGET or None."""
        key = (id(scope), node_id, slot)
        if key in seen:
            return None  # a loop of reroutes or bypassed nodes
        seen.add(key)
        if node_id == SUBGRAPH_INPUT:
            return self._boundary_input(scope, slot, seen)
        node = scope.nodes.get(node_id)
        if node is None:
            return None
        mode, kind = _mode(node), node.get("type")
        if mode == MUTED or kind in NOTE_TYPES:
            return None
        if mode == BYPASSED:
            return self._through_bypass(scope, node, slot, seen)
        if kind == "Reroute":
            entry = next(iter(_slots(node, "inputs")), {})
            return None if entry.get("link") is None else self._source(scope, entry["link"], seen)
        if kind == "PrimitiveNode":
            values = node.get("widgets_values")
            return _Value(values[0]) if isinstance(values, list) and values else None
        inner = self._inner_scope(scope, node_id)
        if inner is not None:
            feeding = next((lid for lid, ln in inner.links.items()
                            if ln.target == SUBGRAPH_OUTPUT and ln.target_slot == slot), None)
            return None if feeding is None else self._source(inner, feeding, seen)
        return _Ref(scope.prefix + node_id, slot)

    def _boundary_input(self, scope: _Scope, slot: int, seen: set[tuple[int, str, int]]) -> Any:
        parent = scope.parent
        entry = scope.boundary[slot] if 0 <= slot < len(scope.boundary) else None
        if parent is not None and entry is not None and entry.get("link") is not None:
            return self._source(parent, entry["link"], seen)
        if slot in scope.promoted:
            return _Value(scope.promoted[slot])
        return _KEEP_WIDGET

    def _through_bypass(self, scope: _Scope, node: Mapping[str, Any], slot: int, seen: set[tuple[int, str, int]]) -> Any:
        outputs = _slots(node, "outputs")
        wanted = outputs[slot].get("type") if slot < len(outputs) else None
        inputs = _slots(node, "inputs")
        order = ([slot] if slot < len(inputs) else []) + [i for i in range(len(inputs)) if i != slot]
        for i in order:
            entry = inputs[i]
            if entry.get("link") is not None and _types_match(entry.get("type"), wanted):
                return self._source(scope, entry["link"], seen)
        return None

    # -- subgraph and group instances ------------------------------------------------------------------

    def _inner_scope(self, scope: _Scope, node_id: str) -> _Scope | None:
        """The scope inside ``node_id`` when it is a subgraph or group node instance (memoised)."""
        if node_id in scope.inner:
            return scope.inner[node_id]
        node = scope.nodes[node_id]
        kind = str(node.get("type"))
        group = kind[len(GROUP_PREFIXES[0]):] if kind.startswith(GROUP_PREFIXES) else None
        inner: _Scope | None = None
        if self._is_instance(kind) and scope.depth >= MAX_DEPTH:
            self._error(ErrorCode.INVALID_WORKFLOW, scope.prefix + node_id, scope.pointers[node_id] + "/type",
                        f"node {scope.prefix + node_id}: subgraphs nest more than {MAX_DEPTH} levels deep here (does "
                        "a subgraph contain itself?)")
        elif kind in self.subgraphs:
            inner = self._subgraph_scope(scope, node_id, node, *self.subgraphs[kind])
        elif group is not None and group in self.groups:
            inner = self._group_scope(scope, node_id, node, self.groups[group], "/extra/groupNodes" + pointer(group))
        if inner is not None:
            inner.depth = scope.depth + 1
        scope.inner[node_id] = inner
        return inner

    def _is_instance(self, kind: str) -> bool:
        return kind in self.subgraphs or (kind.startswith(GROUP_PREFIXES) and kind[len(GROUP_PREFIXES[0]):] in self.groups)

    def _subgraph_scope(self, scope: _Scope, node_id: str, node: Mapping[str, Any], sub: Mapping[str, Any],
                        where: str) -> _Scope:
        inner = _Scope(f"{scope.prefix}{node_id}:", {}, {}, _read_links(sub.get("links")), scope, node)
        for i, child in enumerate(sub.get("nodes") or []):
            if isinstance(child, Mapping):
                inner.nodes[_id(child)] = child
                inner.pointers[_id(child)] = f"{where}/nodes/{i}"
        sub_inputs = [e if isinstance(e, Mapping) else {} for e in sub.get("inputs") or []]
        instance_inputs = _slots(node, "inputs")
        by_name = {_input_name(e): e for e in instance_inputs}
        inner.boundary = [by_name.get(str(e.get("name")), instance_inputs[i] if i < len(instance_inputs) else None)
                          for i, e in enumerate(sub_inputs)]
        slot_of = {str(e.get("name")): i for i, e in enumerate(sub_inputs)}
        self._promote(inner, node, slot_of)
        for (target, widget), value in scope.overrides.items():  # a proxy widget of the outer instance
            if target == node_id and widget in slot_of:
                inner.promoted[slot_of[widget]] = value
        return inner

    def _promote(self, inner: _Scope, node: Mapping[str, Any], slot_of: Mapping[str, int]) -> None:
        """Instance widget values: ``properties.proxyWidgets`` pairs, else the instance's widget inputs."""
        values = node.get("widgets_values")
        if not isinstance(values, list):
            return
        props = node.get("properties") if isinstance(node.get("properties"), Mapping) else {}
        proxies = props.get("proxyWidgets")
        if isinstance(proxies, list) and len(proxies) == len(values):
            for pair, value in zip(proxies, values, strict=True):
                if isinstance(pair, list) and len(pair) == 2:
                    inner_id, widget = str(pair[0]), str(pair[1])
                    if inner_id == "-1" and widget in slot_of:
                        inner.promoted[slot_of[widget]] = value
                    elif inner_id != "-1":
                        inner.overrides[(inner_id, widget)] = value
            return
        widget_slots = [i for i, e in enumerate(inner.boundary) if e is not None and isinstance(e.get("widget"), Mapping)]
        if len(widget_slots) == len(values):
            inner.promoted.update(zip(widget_slots, values, strict=True))

    def _group_scope(self, scope: _Scope, node_id: str, node: Mapping[str, Any], group: Any, where: str) -> _Scope:
        """A legacy group node as a subgraph (see the module docstring, rule 1)."""
        inner = _Scope(f"{scope.prefix}{node_id}:", {}, {}, {}, scope, node)
        members = [n for n in (group.get("nodes") or []) if isinstance(n, Mapping)] if isinstance(group, Mapping) else []
        raw_links = group.get("links") if isinstance(group, Mapping) else []
        external = {(str(e[0]), e[1]) for e in group.get("external") or [] if isinstance(e, list) and len(e) >= 2}
        fed: dict[tuple[str, int], str] = {}
        used: set[tuple[str, int]] = set()
        for n, item in enumerate(raw_links or []):  # [origin index, slot, target index, slot, ..., type]
            if isinstance(item, list) and len(item) >= 4 and all(isinstance(v, int) for v in (item[1], item[3])):
                link = _Link(str(item[0]), item[1], str(item[2]), item[3], str(item[-1]))
                inner.links[f"g{n}"] = link
                fed[(link.target, link.target_slot)] = f"g{n}"
                used.add((link.origin, link.origin_slot))
        widget_values = iter(node.get("widgets_values") or []) if isinstance(node.get("widgets_values"), list) else None
        for position, member in enumerate(members):
            index = str(member.get("index", position))
            inner.pointers[index] = f"{where}/nodes/{position}"
            inner.nodes[index] = self._group_member(inner, index, member, fed, widget_values)
            for slot, _ in enumerate(_slots(member, "outputs")):
                if (index, slot) not in used or (index, slot) in external:
                    out_slot = sum(1 for ln in inner.links.values() if ln.target == SUBGRAPH_OUTPUT)
                    inner.links[f"o{index}.{slot}"] = _Link(index, slot, SUBGRAPH_OUTPUT, out_slot, "*")
        if widget_values is not None and next(widget_values, _END) is not _END:
            self._error(ErrorCode.INVALID_WORKFLOW, scope.prefix + node_id, scope.pointers[node_id] + "/widgets_values",
                        f"group node {scope.prefix + node_id}: widgets_values holds more values than the group's inner "
                        f"widgets take")
        inner.boundary = [e for e in _slots(node, "inputs") if not isinstance(e.get("widget"), Mapping)]
        return inner

    def _group_member(self, inner: _Scope, index: str, member: Mapping[str, Any], fed: dict[tuple[str, int], str],
                      instance_values: Iterator[Any] | None) -> Mapping[str, Any]:
        """An inner node of a group with its links set and the instance's widget values applied."""
        inputs = []
        linked_widgets = set()
        for slot, entry in enumerate(_slots(member, "inputs")):
            entry = dict(entry)
            if (index, slot) in fed:
                entry["link"] = fed[(index, slot)]
                if isinstance(entry.get("widget"), Mapping):
                    linked_widgets.add(_input_name(entry))
            elif isinstance(entry.get("widget"), Mapping):
                entry["link"] = None
            else:
                boundary_slot = sum(1 for ln in inner.links.values() if ln.origin == SUBGRAPH_INPUT)
                entry["link"] = f"i{index}.{slot}"
                inner.links[entry["link"]] = _Link(SUBGRAPH_INPUT, boundary_slot, index, slot, str(entry.get("type")))
            inputs.append(entry)
        rewritten = {**member, "id": index, "inputs": inputs}
        spec = self.spec(str(member.get("type")))
        values = member.get("widgets_values")
        if instance_values is not None and spec is not None and isinstance(values, list):
            slots = match_layout(layouts(spec), values)
            if slots is not None:
                rewritten["widgets_values"] = [
                    v if _owner(s) in linked_widgets else next(instance_values, v)
                    for s, v in zip(slots, values, strict=True)
                ]
        return rewritten

    # -- errors ----------------------------------------------------------------------------------------

    def _unknown(self, exec_id: str, kind: str, where: str) -> None:
        names = getattr(self.registry, "type_names", None)
        close = difflib.get_close_matches(kind, list(names()) if callable(names) else [], n=3, cutoff=0.6)
        hint = ("did you mean " + " or ".join(repr(c) for c in close) + "?") if close else (
            "no registered node type has that name (is the node pack that provides it installed?)")
        self._error(ErrorCode.UNKNOWN_NODE_TYPE, exec_id, where + "/type", f"node {exec_id}: unknown node type "
                    f"{kind!r}; {hint}", details=f"Node ID '#{exec_id}'", extra={"class_type": kind, "suggestions": close})

    def _error(self, code: ErrorCode, node_id: str, where: str, message: str, *, details: str = "",
               extra: Mapping[str, Any] | None = None) -> None:
        self.errors.append(GraphError(code, message, node_id or None, None, where, details, dict(extra or {})))


def _owner(slot: Slot) -> str:
    """The input a slot belongs to (a control widget belongs to the input before it)."""
    return slot.name.split(".", 1)[0] if slot.input is None and slot.name != "upload" else slot.name
