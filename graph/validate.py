"""Workflow validation: every problem, with its location, before anything runs.

Policy
------
:func:`validate` follows ComfyUI's ``validate_prompt`` (comfyui-reference 4.1) with two differences: it never
stops at the first problem, and it never recurses (a 10,000-node chain validates over an explicit stack).

1. **Node types.** Every node of the document must name a registered ``class_type``. A missing or unknown type
   makes the whole workflow unrunnable, as in ComfyUI (``invalid_prompt``): such a node cannot be classified as
   an output or not, so ``outputs`` is empty. Validation still goes on and reports every other problem too.
2. **Outputs.** The outputs are the nodes whose spec has ``is_output``; with ``targets``, only those ids (ids of
   non-output nodes are ignored, like ComfyUI's ``partial_execution_targets``; ids missing from the workflow
   are errors). No output at all is a ``prompt_no_outputs`` error.
3. **Reachability.** Only nodes reachable from the outputs through links are validated; a broken node that no
   output depends on is not reported. A link counts when its input is declared, or undeclared on a node that
   ``accepts_extra`` (other undeclared inputs are dropped, as ComfyUI drops them); every link of a node of
   unknown type counts, so that problems upstream of it are reported in the same pass. Lazy inputs are links
   like any other: a lazy branch may be needed, so it must be valid.
4. **Inputs.** Per declared input, in declaration order: a missing required input; a malformed link; a link to
   a missing node, to an output slot the source lacks, or of the wrong type (not checked for ``raw_link``
   inputs, nor for specs with ``validate_types``, which check types themselves); a constant that cannot be
   coerced as ComfyUI does (``int()``, so ``5.7`` becomes ``5``; ``float()``; ``str()``; ``bool()``, except
   that the words "true" and "false" mean what they say), is out of range, or is not among a COMBO's choices
   (range and choice checks are skipped for the inputs the node's own ``validate`` receives).
5. **Node's own check.** ``spec.validate`` runs only for a node without other errors whose named arguments are
   all constants (linked values are not known before the run). A result other than ``True`` is a
   ``custom_validation_failed`` error per argument passed; an exception is ``exception_during_validation``.
6. **Cycles.** One ``dependency_cycle`` error per cycle found, on the cycle's first node in node id order,
   naming the nodes in data-flow order.
7. **Outcome.** An output fails when a node it depends on (itself included) has an error. The report's
   ``workflow`` holds the reachable nodes with constants coerced (``"5"`` becomes ``5`` for an INT) and
   undeclared inputs dropped: what the executor should run.

Errors come workflow-wide first, then in node id order (digit runs compared as numbers), then in input
declaration order. Every message reads ``"<Type> node <id>, input '<name>': ..."``, the lead-in that
:func:`graph.comfy_errors.format_errors` relies on.
"""

from __future__ import annotations

import difflib
import re
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from graph.errors import ErrorCode, GraphError, pointer
from graph.spec import MISSING, InputSpec, NodeSpec, Registry, types_match
from graph.workflow import BadLink, Link, ListValue, Node, Workflow, constant_value, input_to_api

__all__ = ["TypeNameSource", "ValidationReport", "node_id_key", "validate"]

#: COMBO lists longer than this are not echoed back in errors (ComfyUI's rule for scanned model lists).
MAX_ECHOED_CHOICES = 20
_MAX_SHOWN = 60  # characters of a received value quoted in a message


@dataclass(frozen=True)
class ValidationReport:
    """What :func:`validate` found.

    Args:
        errors: every error, workflow-wide ones first, then by node id, then by input order.
        outputs: the selected output nodes that validated cleanly with all their ancestors, in workflow
            order: the ones that can run.
        failed_outputs: the selected output nodes that cannot run.
        workflow: the reachable nodes with constants coerced and undeclared inputs dropped.
        ancestry: for each selected output, the ids of the nodes it depends on (itself included).
    """

    errors: tuple[GraphError, ...]
    outputs: tuple[str, ...]
    failed_outputs: tuple[str, ...]
    workflow: Workflow
    ancestry: Mapping[str, frozenset[str]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when no error was found."""
        return not self.errors

    def dependent_outputs(self, node_id: str) -> tuple[str, ...]:
        """The selected outputs that depend on ``node_id`` (an output depends on itself)."""
        return tuple(out for out, ancestors in self.ancestry.items() if node_id in ancestors)


@runtime_checkable
class TypeNameSource(Protocol):
    """A registry that can list its type names; with one, unknown types get "did you mean" hints."""

    def type_names(self) -> Iterable[str]:
        """Every registered ``class_type``."""


def validate(workflow: Workflow, registry: Registry, targets: Sequence[str] | None = None) -> ValidationReport:
    """Check a workflow against the registry's node specs and report every problem at once.

    Args:
        workflow: the parsed API-format workflow.
        registry: where node types are looked up.
        targets: run only these output nodes (ComfyUI's ``partial_execution_targets``); None for all.

    Returns:
        A :class:`ValidationReport`; it never raises for a problem of the workflow.
    """
    return _Validator(workflow, registry).run(targets)


def node_id_key(node_id: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key for node ids: digit runs compare as numbers, so "9" < "10" < "10:2" < "a"."""
    parts = re.split(r"(\d+)", node_id)
    return tuple((0, int(p)) if i % 2 else (1, p) for i, p in enumerate(parts) if p)


class _Validator:
    """The state of one :func:`validate` call: the specs found and the errors so far, by node."""

    def __init__(self, workflow: Workflow, registry: Registry) -> None:
        self.nodes: dict[str, Node] = dict(workflow.items())  # a plain dict: lookups are the hot path
        self.registry = registry
        self.specs: dict[str, NodeSpec] = {}  # node id -> spec, for nodes of a known type
        self.errors: dict[str | None, list[GraphError]] = {}
        self.links: dict[str, list[tuple[str, Link]]] = {}  # node id -> its kept links
        self.choices: dict[int, Sequence[Any]] = {}  # id(InputSpec) -> resolved COMBO choices

    def run(self, targets: Sequence[str] | None) -> ValidationReport:
        fatal = self._resolve_types()
        selected = self._select_outputs(targets)
        ancestry = {out: self._ancestors(out) for out in selected}
        reachable: set[str] = set().union(*ancestry.values())
        nodes = []
        for node_id, node in self.nodes.items():
            if node_id in reachable:
                spec = self.specs.get(node_id)
                nodes.append(node if spec is None else self._check_node(node, spec))
        self._check_cycles([node.id for node in nodes])
        failed = {node_id for node_id in self.errors if node_id is not None}
        good = tuple(out for out in selected if not fatal and failed.isdisjoint(ancestry[out]))
        return ValidationReport(
            errors=tuple(self._ordered_errors()),
            outputs=good,
            failed_outputs=tuple(out for out in selected if out not in good),
            workflow=Workflow({node.id: node for node in nodes}),
            ancestry=MappingProxyType(ancestry),
        )

    def _ordered_errors(self) -> Iterable[GraphError]:
        yield from self.errors.get(None, ())
        for node_id in sorted((k for k in self.errors if k is not None), key=node_id_key):
            yield from self.errors[node_id]

    def _add(self, error: GraphError) -> None:
        self.errors.setdefault(error.node_id, []).append(error)

    # 1. Node types -------------------------------------------------------------------------------

    def _resolve_types(self) -> bool:
        """Look up every node's spec; returns True when some node has a missing or unknown type."""
        fatal = False
        by_type: dict[str, NodeSpec | None] = {}
        for node_id, node in self.nodes.items():
            type_name = node.class_type
            if type_name is None:
                fatal = True
                self._add(_class_error(ErrorCode.MISSING_CLASS_TYPE, node_id, "the class_type is missing; every "
                                       "node must name its node type, e.g. \"KSampler\"", {}))
                continue
            if type_name not in by_type:
                by_type[type_name] = self.registry.spec(type_name)
            spec = by_type[type_name]
            if spec is None:
                fatal = True
                self._add(self._unknown_type(node_id, type_name))
            else:
                self.specs[node_id] = spec
        return fatal

    def _unknown_type(self, node_id: str, type_name: str) -> GraphError:
        names = list(self.registry.type_names()) if isinstance(self.registry, TypeNameSource) else []
        close = difflib.get_close_matches(type_name, names, n=3, cutoff=0.6)
        if close:
            hint = "did you mean " + " or ".join(repr(c) for c in close) + "?"
        else:
            hint = "no registered node type has that name (is the node pack that provides it installed?)"
        return _class_error(ErrorCode.UNKNOWN_NODE_TYPE, node_id, f"unknown node type {type_name!r}; {hint}",
                            {"class_type": type_name, "suggestions": close})

    # 2. Outputs and 3. reachability ---------------------------------------------------------------

    def _select_outputs(self, targets: Sequence[str] | None) -> list[str]:
        if targets is None:
            wanted: set[str] | None = None
        else:
            wanted = set()
            for target in dict.fromkeys(str(t) for t in targets):
                if target in self.nodes:
                    wanted.add(target)
                else:
                    self._add(GraphError(
                        ErrorCode.BAD_PARAMETER,
                        f"target {target!r} is not a node of the workflow; targets must be ids of its output nodes",
                        details=f"Node ID '#{target}'", extra={"target": target}))
        selected = [node_id for node_id, spec in self.specs.items()
                    if spec.is_output and (wanted is None or node_id in wanted)]
        if not selected:
            if targets is None:
                why = "the workflow has no output node (such as SaveImage), so nothing would run"
            else:
                why = f"none of the targets {list(targets)!r} is an output node of the workflow, so nothing would run"
            self._add(GraphError(ErrorCode.NO_OUTPUTS, why))
        return selected  # in workflow order, as self.specs is

    def _kept_links(self, node_id: str) -> list[tuple[str, Link]]:
        """The links of a node that the executor will follow (declared, or extra when accepted).

        A node of unknown type keeps all its links, so problems upstream of it are reported too.
        """
        links = self.links.get(node_id)
        if links is None:
            spec = self.specs.get(node_id)
            links = [
                (name, value) for name, value in self.nodes[node_id].inputs.items()
                if isinstance(value, Link) and (spec is None or spec.accepts_extra or spec.input(name) is not None)
            ]
            self.links[node_id] = links
        return links

    def _ancestors(self, output: str) -> frozenset[str]:
        """``output`` and every node it reaches through links (iterative, cycle-safe)."""
        seen = {output}
        stack = [output]
        while stack:
            for _, link in self._kept_links(stack.pop()):
                source = link.node_id
                if source not in seen and source in self.nodes:
                    seen.add(source)
                    stack.append(source)
        return frozenset(seen)

    # 4. Inputs -----------------------------------------------------------------------------------

    def _check_node(self, node: Node, spec: NodeSpec) -> Node:
        """Check one node's inputs, run its own validation, and return it with constants coerced."""
        errors: list[GraphError] = []
        kept: dict[str, Any] = {}
        constants: dict[str, Any] = {}
        received: dict[str, str] = {}  # linked input -> type of the output it receives
        resolved = True  # every link's source type is known
        for inp in spec.inputs:
            value = node.inputs.get(inp.name, MISSING)
            if value is MISSING:
                if inp.required:
                    errors.append(_error(ErrorCode.REQUIRED_INPUT_MISSING, node, inp.name,
                                         f"required input is missing; expected {_expected(inp)}",
                                         inp.name, {"input_name": inp.name}))
                continue
            kept[inp.name] = value
            if isinstance(value, Link):
                resolved &= self._check_link(node, spec, inp.name, inp, value, errors, received)
            elif isinstance(value, BadLink):
                errors.append(_error(ErrorCode.BAD_LINKED_INPUT, node, inp.name,
                                     f"expected a link [node_id, output_index], got {_show(value)}",
                                     inp.name, _extra(inp, received_value=input_to_api(value))))
            else:
                error, coerced = self._check_constant(node, spec, inp, value)
                if error is None:
                    kept[inp.name] = constants[inp.name] = coerced
                else:
                    errors.append(error)
        if spec.accepts_extra:
            for name, value in node.inputs.items():
                if isinstance(value, Link) and spec.input(name) is None:
                    kept[name] = value
                    resolved &= self._check_link(node, spec, name, None, value, errors, received)
        if not errors and resolved:
            errors.extend(_run_own_validation(node, spec, constants, kept, received))
        for error in errors:
            self._add(error)
        if len(kept) == len(node.inputs) and all(kept[k] is v for k, v in node.inputs.items()):
            return node
        inputs = {name: kept[name] for name in node.inputs if name in kept}
        return Node(node.id, node.class_type, MappingProxyType(inputs), node.meta, node.extra)

    def _check_link(self, node: Node, spec: NodeSpec, name: str, inp: InputSpec | None, link: Link,
                    errors: list[GraphError], received: dict[str, str]) -> bool:
        """Check one link; records the received type. Returns False when the source's type is unknown."""
        source = self.nodes.get(link.node_id)
        if source is None:
            errors.append(_link_error(ErrorCode.LINK_TO_MISSING_NODE, node, name, inp, link,
                                      f"linked to node {link.node_id}, which is not in the workflow", name))
            return True
        source_spec = self.specs.get(link.node_id)
        if source_spec is None:  # missing or unknown type: reported on the source node
            return False
        outputs = source_spec.outputs
        if not 0 <= link.output < len(outputs):
            have = f"outputs 0 to {len(outputs) - 1}" if outputs else "no outputs"
            errors.append(_link_error(ErrorCode.BAD_OUTPUT_INDEX, node, name, inp, link,
                                      f"linked to output {link.output} of {_label(source.id, source_spec.type_name)}"
                                      f", which has {have}", f"{name}, output index {link.output}"))
            return True
        received_type = received[name] = outputs[link.output].type
        if (inp is not None and not inp.raw_link and not spec.validate_types
                and not types_match(received_type, inp.type)):
            errors.append(_link_error(
                ErrorCode.RETURN_TYPE_MISMATCH, node, name, inp, link,
                f"expected a link from a node producing {inp.type}, got {received_type} from output "
                f"{link.output} of {_label(source.id, source_spec.type_name)}",
                f"{name}, received_type({received_type}) mismatch input_type({inp.type})", received_type))
        return True

    def _check_constant(self, node: Node, spec: NodeSpec, inp: InputSpec, value: Any) -> tuple[GraphError | None, Any]:
        """Coerce a constant and check its range or choices; returns (error, coerced value)."""
        name = inp.name
        try:
            coerced = _coerce(inp.type, value)
        except _NotAWidget:
            return _error(ErrorCode.INVALID_INPUT_TYPE, node, name,
                          f"expected a link from a node producing {inp.type}, got the constant {_show(value)}",
                          f"{name}, {_show(value)}, a constant cannot supply a {inp.type}",
                          _extra(inp, received_value=constant_value(value))), value
        except (TypeError, ValueError, OverflowError) as exc:
            return _error(ErrorCode.INVALID_INPUT_TYPE, node, name,
                          f"expected {_expected(inp)}, got {_show(value)}", f"{name}, {_show(value)}, {exc}",
                          _extra(inp, received_value=constant_value(value), exception_message=str(exc))), value
        if spec.validate_args is not None and name in spec.validate_args:
            return None, coerced
        if _is_combo(inp):
            return self._check_choice(node, inp, coerced), coerced
        if isinstance(coerced, (int, float)):
            below = inp.min is not None and coerced < inp.min
            if below or (inp.max is not None and coerced > inp.max):
                code = ErrorCode.VALUE_SMALLER_THAN_MIN if below else ErrorCode.VALUE_BIGGER_THAN_MAX
                return _error(code, node, name, f"expected {_expected(inp)}, got {coerced!r}", name,
                              _extra(inp, received_value=coerced)), coerced
        return None, coerced

    def _check_choice(self, node: Node, inp: InputSpec, value: Any) -> GraphError | None:
        if inp.choices is None:
            return None
        choices = self.choices.get(id(inp))
        if choices is None:
            try:
                choices = list(inp.resolved_choices() or ())
            except Exception as exc:  # a provider that lists model files may fail in any way
                return _exception_error(node, inp.name, "listing the allowed values", exc)
            self.choices[id(inp)] = choices
        plain = constant_value(value)
        if plain in choices:
            return None
        listing = f"(list of length {len(choices)})" if len(choices) > MAX_ECHOED_CHOICES else str(choices)
        extra = _extra(inp, choices, received_value=plain)  # its input_config is None for a long list
        body = f"expected {_expected(inp, choices)}, got {_show(value)}"
        if isinstance(plain, str):
            close = difflib.get_close_matches(plain, [c for c in choices if isinstance(c, str)], n=1)
            body += f"; did you mean {close[0]!r}?" if close else ""
        return _error(ErrorCode.VALUE_NOT_IN_LIST, node, inp.name, body,
                      f"{inp.name}: '{plain}' not in {listing}", extra)

    # 6. Cycles -----------------------------------------------------------------------------------

    def _check_cycles(self, order: list[str]) -> None:
        for cycle in _find_cycles(order, self._sources):
            first = min(range(len(cycle)), key=lambda i: node_id_key(cycle[i]))
            cycle = cycle[first:] + cycle[:first]
            head, feeder = cycle[0], cycle[-1]
            name, link = next((n, link) for n, link in self._kept_links(head) if link.node_id == feeder)
            path = " -> ".join([*cycle, head])
            self._add(_error(ErrorCode.DEPENDENCY_CYCLE, self.nodes[head], name,
                             f"the node depends on its own output through the cycle {path} (each node feeds the "
                             f"next); remove one of these links", path,
                             {"input_name": name, "linked_node": link.to_api(), "cycle": list(cycle)}))

    def _sources(self, node_id: str) -> Iterable[str]:
        return dict.fromkeys(link.node_id for _, link in self._kept_links(node_id) if link.node_id in self.nodes)


def _find_cycles(order: Sequence[str], sources: Callable[[str], Iterable[str]]) -> list[list[str]]:
    """One cycle per back edge of an iterative depth-first search, each in data-flow order."""
    state: dict[str, bool] = {}  # True while on the current path, False once finished
    cycles: list[list[str]] = []
    for start in order:
        if start in state:
            continue
        state[start] = True
        path, position = [start], {start: 0}
        pending = [iter(sources(start))]
        while pending:
            source = next(pending[-1], None)
            if source is None:
                state[path[-1]] = False
                del position[path.pop()]
                pending.pop()
            elif source not in state:
                state[source] = True
                position[source] = len(path)
                path.append(source)
                pending.append(iter(sources(source)))
            elif state[source]:  # back edge: the path from ``source`` down to here is a cycle
                cycles.append(path[position[source]:][::-1])
    return cycles


# 5. The node's own validation -------------------------------------------------------------------


def _run_own_validation(node: Node, spec: NodeSpec, constants: Mapping[str, Any], inputs: Mapping[str, Any],
                        received: Mapping[str, str]) -> list[GraphError]:
    """Call ``spec.validate`` with the constants it names (skipped when one of them is linked)."""
    named = spec.validate_args
    if spec.validate is None or (named is not None and any(isinstance(inputs.get(n), Link) for n in named)):
        return []  # nothing to call, or a linked value that is only known at run time
    # constants is in declaration order, which fixes the order of the errors below
    args = {name: constant_value(value) for name, value in constants.items() if named is None or name in named}
    if spec.validate_types:
        args["input_types"] = dict(received)
    try:
        result = spec.validate(**args)
    except Exception as exc:  # the node's code may raise anything; it is reported, not propagated
        return [_exception_error(node, None, "the node's own validation", exc)]
    if result is True:
        return []
    # As in ComfyUI, one error per argument passed (a UI marks each of them); a node-level one without any.
    # details is ComfyUI's "<input> - <returned string>" (just the input when the node returned False).
    said = None if result is False else str(result)
    names: list[str | None] = [name for name in args if name != "input_types"] or [None]
    return [
        _error(ErrorCode.CUSTOM_VALIDATION_FAILED, node, name,
               f"the node's own validation rejected its inputs ({said or 'returned False'})",
               " - ".join(part for part in (name, said) if part), {"input_name": name} if name else {})
        for name in names
    ]


# Coercion ---------------------------------------------------------------------------------------


class _NotAWidget(Exception):
    """A constant was given for a data type (MODEL, LATENT ...) that only a link can supply."""


def _to_bool(value: Any) -> bool:
    # ComfyUI coerces with bool(), so the string "false" becomes True. latentloom reads the words "true" and
    # "false" (any case) for what they say, and otherwise keeps ComfyUI's bool().
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return bool(value)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": _to_bool}
_PYTHON_TYPES = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}


def _coerce(type_name: str, value: Any) -> Any:
    """A constant converted for a port of ``type_name`` (ComfyUI's rules: ``int("5")``, ``int(5.7) == 5``).

    Raises:
        _NotAWidget: the type takes links only.
        TypeError, ValueError, OverflowError: the conversion failed.
    """
    converter = _CONVERTERS.get(type_name)
    if converter is not None:
        if type(value) is _PYTHON_TYPES[type_name]:
            return value
        return converter(constant_value(value))
    if type_name in ("*", "COMBO"):
        return value  # any constant; COMBO values are checked against the choices
    if "," in type_name:  # a union: the member that keeps the value as it is, else the first that converts
        members = [t.strip() for t in type_name.split(",")]
        if "*" in members or any(type(value) is _PYTHON_TYPES.get(t) for t in members):
            return value
        for member in members:
            if member in _CONVERTERS:
                try:
                    return _CONVERTERS[member](constant_value(value))
                except (TypeError, ValueError, OverflowError):
                    continue
        if any(m in _CONVERTERS for m in members):
            raise ValueError(f"{_show(value)} converts to none of {type_name}")
    raise _NotAWidget(type_name)


# Messages and extra_info ------------------------------------------------------------------------


def _is_combo(inp: InputSpec) -> bool:
    return inp.type == "COMBO" or inp.choices is not None


def _label(node_id: str, type_name: str | None) -> str:
    return f"{type_name} node {node_id}" if type_name else f"node {node_id}"


def _article(word: str) -> str:
    return "an" if word[:1].upper() in "AEIOU" else "a"


def _expected(inp: InputSpec, choices: Sequence[Any] | None = None) -> str:
    """What an input wants, as a phrase: "an INT between 1 and 10000", "one of ['a', 'b']"."""
    t = inp.type
    if _is_combo(inp):
        choices = _known_choices(inp, choices)
        if choices is None:
            return "one of the listed values"
        if not choices:
            return "one of [] (no values are available)"
        if len(choices) > MAX_ECHOED_CHOICES:
            return f"one of the {len(choices)} listed values"
        return f"one of {list(choices)}"
    if t in ("INT", "FLOAT"):
        low, high = inp.min, inp.max
        if low is not None and high is not None:
            return f"{_article(t)} {t} between {low} and {high}"
        if low is not None or high is not None:
            return f"{_article(t)} {t} of at " + (f"least {low}" if low is not None else f"most {high}")
        return f"{_article(t)} {t}"
    if t == "*":
        return "any value"
    members = [m.strip() for m in t.split(",")]
    if all(m in _CONVERTERS for m in members):
        return f"{_article(members[0])} " + " or ".join(members)
    return f"a link from a node producing {t}"


def _show(value: Any) -> str:
    """A short repr of a received value for messages."""
    text = repr(input_to_api(value)) if isinstance(value, (BadLink, ListValue)) else repr(constant_value(value))
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _input_config(inp: InputSpec, choices: Sequence[Any] | None = None) -> list[Any] | None:
    """ComfyUI's ``[type, options]`` pair for an input (a COMBO's type is its list of choices)."""
    options: dict[str, Any] = {} if inp.default is MISSING else {"default": inp.default}
    options.update((key, v) for key, v in (("min", inp.min), ("max", inp.max)) if v is not None)
    options.update((key, True) for key, on in (("lazy", inp.lazy), ("rawLink", inp.raw_link)) if on)
    options.update(inp.options)
    kind: Any = inp.type
    choices = _known_choices(inp, choices) if _is_combo(inp) else None
    if choices is not None:
        if len(choices) > MAX_ECHOED_CHOICES:
            return None
        kind = list(choices)
    return [kind, options]


def _known_choices(inp: InputSpec, resolved: Sequence[Any] | None) -> Sequence[Any] | None:
    """The choices already resolved, else a static list (a provider is only called by _check_choice)."""
    if resolved is None and inp.choices is not None and not callable(inp.choices):
        return inp.choices
    return resolved


def _extra(inp: InputSpec | None, choices: Sequence[Any] | None = None, *, input_name: str | None = None,
           **more: Any) -> dict[str, Any]:
    extra: dict[str, Any] = {"input_name": inp.name if inp is not None else input_name}
    if inp is not None:
        extra["input_config"] = _input_config(inp, choices)
    extra.update(more)
    return extra


def _error(code: ErrorCode, node: Node, input_name: str | None, body: str, details: str,
           extra: Mapping[str, Any]) -> GraphError:
    where = _label(node.id, node.class_type) + (f", input '{input_name}'" if input_name else "")
    at = pointer(node.id, "inputs", input_name) if input_name else pointer(node.id)
    return GraphError(code, f"{where}: {body}", node.id, input_name, at, details, dict(extra))


def _link_error(code: ErrorCode, node: Node, name: str, inp: InputSpec | None, link: Link, body: str, details: str,
                received_type: str | None = None) -> GraphError:
    extra = _extra(inp, input_name=name, linked_node=link.to_api())
    if received_type is not None:
        extra["received_type"] = received_type
    return _error(code, node, name, body, details, extra)


def _class_error(code: ErrorCode, node_id: str, body: str, extra: Mapping[str, Any]) -> GraphError:
    return GraphError(code, f"node {node_id}: {body}", node_id, None, pointer(node_id, "class_type"),
                      f"Node ID '#{node_id}'", dict(extra))


def _exception_error(node: Node, input_name: str | None, doing: str, exc: Exception) -> GraphError:
    kind = type(exc)
    full = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    extra: dict[str, Any] = {"input_name": input_name} if input_name else {}
    extra.update(exception_type=full, exception_message=str(exc), traceback=traceback.format_tb(exc.__traceback__))
    return _error(ErrorCode.EXCEPTION_DURING_VALIDATION, node, input_name,
                  f"{doing} raised {full}: {exc}", str(exc), extra)
