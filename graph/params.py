"""Named parameters of a workflow: declared once, bound to node inputs, checked like everything else.

A parameterised workflow file (``"format": "latentloom-workflow/1"``, read by ``nodes/workflow_files.py``)
declares its parameters as an object of name to declaration::

    "parameters": {
      "seed":  {"node": "Sampler", "input": "seed", "type": "INT", "default": 7, "description": "..."},
      "width": {"targets": [{"node": "Size", "input": "width"}, {"node": "12", "input": "width"}]}
    }

``node`` is a node id or a node title (``_meta.title``); ``targets`` binds one value to several inputs. The
type, the default, the range and the choices come from the node's spec and the graph when the
declaration leaves them out (a declared ``type`` must agree with the spec; a declared ``default`` wins over
the graph's value). Only constant inputs of widget types can be bound: a linked input is an error.

Problems are :class:`~graph.errors.GraphError` values with code ``bad_parameter`` and a JSON pointer to the
parameter: ``/parameters/seed/node`` for a declaration, ``/params/seed`` for a value given at run time.
Values are coerced as the engine's validation does (``"5"`` is the INT 5, ``"true"`` the BOOLEAN true) and
checked against the input's range and choices.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graph.errors import ErrorCode, GraphError, pointer
from graph.spec import InputSpec, Registry
from graph.ui_widgets import is_widget
from graph.workflow import Link, parse_input

__all__ = ["FORMAT", "Parameter", "Target", "apply_parameters", "check_value", "find_node", "read_parameters"]

#: The ``format`` of a parameterised workflow file.
FORMAT = "latentloom-workflow/1"
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_SHOWN = 60


@dataclass(frozen=True, slots=True)
class Target:
    """One input a parameter sets."""

    node: str
    input: str


@dataclass(frozen=True)
class Parameter:
    """A named value bound to one or more node inputs (see the module docstring)."""

    name: str
    targets: tuple[Target, ...]
    type: str
    default: Any
    description: str = ""
    min: float | int | None = None
    max: float | int | None = None
    choices: tuple[Any, ...] | None = None
    #: Values must be among ``choices`` here; False for computed lists (model and image files), which
    #: validation checks when the workflow runs, with messages that name the folder.
    closed: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The JSON form listed by ``GET /api/workflows``."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "default": self.default,
                               "description": self.description, "node": self.targets[0].node,
                               "input": self.targets[0].input}
        if len(self.targets) > 1:
            out["targets"] = [{"node": t.node, "input": t.input} for t in self.targets]
        for key in ("min", "max"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.choices is not None:
            out["choices"] = list(self.choices)
        return out


def find_node(prompt: Mapping[str, Any], ref: str) -> tuple[str | None, str]:
    """The id of the node ``ref`` names (an id, or a unique ``_meta.title``), or (None, why not)."""
    if ref in prompt:
        return ref, ""
    titled = [nid for nid, node in prompt.items()
              if isinstance(node, Mapping) and isinstance(node.get("_meta"), Mapping) and node["_meta"].get("title") == ref]
    if len(titled) == 1:
        return titled[0], ""
    if titled:
        return None, f"several nodes are titled {ref!r} ({', '.join(titled)}); use a node id"
    return None, f"no node with id or title {ref!r}; ids are {', '.join(list(prompt)[:20])}"


def read_parameters(declared: Any, prompt: Mapping[str, Any], registry: Registry,
                    at: str = "/parameters") -> tuple[tuple[Parameter, ...], list[GraphError]]:
    """Parameters from a ``parameters`` declaration over an API-format ``prompt``; every problem at once.

    Choice providers (model lists) are called here, so call it where they can see the application's
    folders (inside ``graph.context.using_runtime``).
    """
    if declared is None:
        return (), []
    if not isinstance(declared, Mapping):
        return (), [_bad(at, None, f"'parameters' must be an object of name to declaration, got {type(declared).__name__}")]
    found: list[Parameter] = []
    errors: list[GraphError] = []
    for name, decl in declared.items():
        where = at + pointer(str(name))
        before = len(errors)
        param = _read_one(str(name), decl, prompt, registry, where, errors)
        if param is not None and len(errors) == before:
            found.append(param)
    return tuple(found), errors


def _read_one(name: str, decl: Any, prompt: Mapping[str, Any], registry: Registry, where: str,
              errors: list[GraphError]) -> Parameter | None:
    if not NAME.match(name):
        errors.append(_bad(where, name, f"parameter name {name!r} must start with a letter or '_' and hold only "
                                        "letters, digits, '_' and '-'"))
        return None
    if not isinstance(decl, Mapping):
        errors.append(_bad(where, name, f"parameter {name!r} must be an object such as "
                                        '{"node": "3", "input": "seed"}'))
        return None
    raw_targets = decl.get("targets", [{"node": decl.get("node"), "input": decl.get("input")}])
    if not isinstance(raw_targets, list) or not raw_targets:
        errors.append(_bad(where + "/targets", name, f"parameter {name!r}: 'targets' must be a non-empty list of "
                                                     '{"node", "input"} objects'))
        return None
    targets: list[Target] = []
    specs: list[InputSpec | None] = []
    for i, raw in enumerate(raw_targets):
        at = where + (f"/targets/{i}" if "targets" in decl else "")
        target, inp = _read_target(name, raw, prompt, registry, at, errors)
        if target is not None:
            targets.append(target)
            specs.append(inp)
    if len(targets) != len(raw_targets):
        return None
    known = [s for s in specs if s is not None]
    kinds = {_kind(s) for s in known}
    declared_type = decl.get("type")
    if len(kinds) > 1:
        errors.append(_bad(where, name, f"parameter {name!r} binds inputs of different types {sorted(kinds)}"))
        return None
    kind = kinds.pop() if kinds else str(declared_type or "*")
    if declared_type is not None and str(declared_type).upper() != kind and kind != "*":
        errors.append(_bad(where + "/type", name, f"parameter {name!r} is declared {declared_type!r} but input "
                                                  f"'{targets[0].input}' of node {targets[0].node} takes {kind}"))
        return None
    first = known[0] if known else None
    choices = _choices(first)
    current = prompt[targets[0].node].get("inputs", {}).get(targets[0].input)
    closed = first is not None and not callable(first.choices) and not _self_validated(targets, prompt, registry)
    param = Parameter(name, tuple(targets), kind, decl.get("default", current),
                      str(decl.get("description", "")), first.min if first else None, first.max if first else None,
                      choices, closed)
    if param.default is None:
        errors.append(_bad(where + "/default", name, f"parameter {name!r} has no default: give one, or set the "
                                                     "input's value in the graph"))
        return None
    default, error = check_value(param, param.default, where + "/default")
    if error is not None:
        errors.append(error)
        return None
    return dataclasses.replace(param, default=default)


def _read_target(name: str, raw: Any, prompt: Mapping[str, Any], registry: Registry, at: str,
                 errors: list[GraphError]) -> tuple[Target | None, InputSpec | None]:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("node"), (str, int)) or not isinstance(raw.get("input"), str):
        errors.append(_bad(at, name, f"parameter {name!r} must name a node and one of its inputs: "
                                     '{"node": "<id or title>", "input": "<input name>"}'))
        return None, None
    node_id, why = find_node(prompt, str(raw["node"]))
    if node_id is None:
        errors.append(_bad(at + "/node", name, f"parameter {name!r}: {why}"))
        return None, None
    node = prompt[node_id]
    input_name = str(raw["input"])
    spec = registry.spec(str(node.get("class_type")))
    inp = spec.input(input_name) if spec is not None else None
    if spec is not None and inp is None:
        names = [i.name for i in spec.inputs]
        errors.append(_bad(at + "/input", name, f"parameter {name!r}: {spec.type_name} node {node_id} has no input "
                                                f"{input_name!r}; its inputs are {names}", node_id, input_name))
        return None, None
    if inp is not None and not is_widget(inp):
        errors.append(_bad(at + "/input", name, f"parameter {name!r}: input {input_name!r} of node {node_id} takes a "
                                                f"link ({inp.type}), not a value", node_id, input_name))
        return None, None
    if isinstance(parse_input(node.get("inputs", {}).get(input_name)), Link):
        errors.append(_bad(at + "/input", name, f"parameter {name!r}: input {input_name!r} of node {node_id} is "
                                                "linked to another node; a parameter sets a constant input",
                           node_id, input_name))
        return None, None
    return Target(node_id, input_name), inp


def _self_validated(targets: Sequence[Target], prompt: Mapping[str, Any], registry: Registry) -> bool:
    """True when a node checks one of the inputs itself (its ``validate`` replaces the choice check)."""
    for target in targets:
        spec = registry.spec(str(prompt[target.node].get("class_type")))
        if spec is not None and spec.validate_args and target.input in spec.validate_args:
            return True
    return False


def _kind(inp: InputSpec) -> str:
    return "COMBO" if inp.choices is not None else inp.type


def _choices(inp: InputSpec | None) -> tuple[Any, ...] | None:
    if inp is None or inp.choices is None:
        return None
    try:
        return tuple(inp.resolved_choices() or ())
    except Exception:  # a provider (model list) that fails is checked again by validation
        return None


# ------------------------------------------------------------------------------------------------------
# Values


def check_value(param: Parameter, value: Any, at: str) -> tuple[Any, GraphError | None]:
    """``value`` coerced for ``param`` and checked against its range and choices: (value, None) or
    (value, error). Text is read as the type says (``"5"`` for an INT, ``"true"`` for a BOOLEAN)."""
    try:
        coerced = _coerce(param, value)
    except (TypeError, ValueError, OverflowError):
        return value, _value_error(param, value, at)
    below = param.min is not None and isinstance(coerced, (int, float)) and coerced < param.min
    above = param.max is not None and isinstance(coerced, (int, float)) and coerced > param.max
    if below or above or (param.closed and param.choices is not None and coerced not in param.choices):
        return value, _value_error(param, value, at)
    return coerced, None


def _coerce(param: Parameter, value: Any) -> Any:
    kind = param.type
    if isinstance(value, bool) and kind in ("INT", "FLOAT"):
        raise TypeError("a boolean is not a number")
    if kind == "INT":
        number = float(value) if isinstance(value, (str, float)) else value
        if not isinstance(number, (int, float)) or not float(number).is_integer():
            raise ValueError("not a whole number")
        return int(number)
    if kind == "FLOAT":
        if not isinstance(value, (int, float, str)):
            raise TypeError("not a number")
        return float(value)
    if kind == "BOOLEAN":
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if not isinstance(value, bool):
            raise TypeError("not a boolean")
        return value
    if kind == "STRING":
        if isinstance(value, (dict, list)) or value is None:
            raise TypeError("not text")
        return value if isinstance(value, str) else json.dumps(value)
    if kind == "COMBO" and param.closed and param.choices is not None and value not in param.choices and isinstance(value, str):
        try:  # text from a command line: "8" names the choice 8
            parsed = json.loads(value)
        except ValueError:
            return value
        return parsed if parsed in param.choices else value
    return value


def _value_error(param: Parameter, value: Any, at: str) -> GraphError:
    shown = repr(value) if len(repr(value)) <= _SHOWN else repr(value)[: _SHOWN - 3] + "..."
    expected = _expected(param)
    hint = ""
    if param.closed and param.choices is not None and isinstance(value, str):
        close = difflib.get_close_matches(value, [c for c in param.choices if isinstance(c, str)], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
    target = param.targets[0]
    return GraphError(ErrorCode.BAD_PARAMETER, f"parameter '{param.name}': expected {expected}, got {shown}{hint}",
                      target.node, target.input, at, f"{param.name}: {shown}, expected {expected}",
                      {"parameter": param.name, "received_value": value, "expected": expected})


def _expected(param: Parameter) -> str:
    if param.closed and param.choices is not None:
        listed = list(param.choices)
        return f"one of {listed}" if len(listed) <= 20 else f"one of the {len(listed)} listed values"
    kind = param.type
    article = "an" if kind[:1] in "AEIOU" else "a"
    if param.min is not None and param.max is not None:
        return f"{article} {kind} between {param.min} and {param.max}"
    if param.min is not None or param.max is not None:
        return f"{article} {kind} of at " + (f"least {param.min}" if param.min is not None else f"most {param.max}")
    return f"{article} {kind}" if kind != "*" else "a value"


def apply_parameters(prompt: Mapping[str, Any], parameters: Sequence[Parameter], values: Any,
                     at: str = "/params") -> tuple[dict[str, Any], dict[str, Any], list[GraphError]]:
    """A copy of ``prompt`` with every parameter set: the given value, else its default.

    Returns:
        (the new prompt, the value used for each parameter, every error: unknown names and bad values,
        each pointing at ``/params/<name>``).
    """
    errors: list[GraphError] = []
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        return dict(prompt), {}, [_bad(at, None, f"params must be an object of parameter name to value, got "
                                                 f"{type(values).__name__}")]
    by_name = {p.name: p for p in parameters}
    for name in values:
        if name not in by_name:
            close = difflib.get_close_matches(str(name), list(by_name), n=2)
            listed = ", ".join(by_name) or "none"
            hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
            errors.append(_bad(at + pointer(str(name)), str(name), f"unknown parameter {name!r}; {hint}"
                                                                    f"the workflow's parameters are: {listed}"))
    if not parameters:
        return prompt, {}, errors  # type: ignore[return-value]  # nothing to set: the graph as it is
    out = copy.deepcopy(dict(prompt))
    used: dict[str, Any] = {}
    for param in parameters:
        value = values.get(param.name, param.default)
        coerced, error = check_value(param, value, at + pointer(param.name))
        if error is not None:
            errors.append(error)
            continue
        used[param.name] = coerced
        for target in param.targets:
            out[target.node].setdefault("inputs", {})[target.input] = {"__value__": coerced} if isinstance(coerced, list) else coerced
    return out, used, errors


def _bad(at: str, name: str | None, message: str, node_id: str | None = None, input_name: str | None = None) -> GraphError:
    return GraphError(ErrorCode.BAD_PARAMETER, message, node_id, input_name, at, message,
                      {"parameter": name} if name is not None else {})
