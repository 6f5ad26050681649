"""Sweeps: one workflow over a grid of parameter values, as one job.

:func:`plan_sweep` turns a prompt and a grid (``{"seed": [1, 2, 3], "cfg": [4, 7]}``, every combination,
the last axis varying fastest) into one API-format graph that holds every grid point:

* Nodes that no swept input reaches (the loader, an unchanged prompt's text encoder) appear once and are
  shared by every point; the swept nodes and everything downstream of them are copied once per point with
  ids ``"p<index>:<id>"`` and the point's values set. The engine's content-keyed cache then also shares
  any copies that come out identical (a cfg axis does not change the text encoders).
* Every copied output node that saves or previews images (an ``images`` input) gives one image per point.
  When the registry has ``ContactSheet`` and ``SaveImage``, those images also feed one ``ContactSheet``
  node (id ``sweep_sheet``), labelled with each point's values and laid out with one column per value of
  the last axis, and its sheet is saved by ``sweep_sheet_save``.

An axis names a declared :class:`~graph.params.Parameter`, or ``NODE.INPUT`` (a node id or title and an
input name) for any constant input. Values are checked like parameter values (``bad_parameter`` errors
pointing at ``/sweep/<axis>/<index>``); more than :data:`MAX_POINTS` points is refused.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graph.errors import ErrorCode, GraphError, WorkflowFormatError, pointer
from graph.params import Parameter, check_value, read_parameters
from graph.spec import Registry
from graph.workflow import Link, parse_input

__all__ = ["MAX_POINTS", "SweepPlan", "SweepPoint", "plan_sweep"]

MAX_POINTS = 256
SHEET_NODE, SHEET_SAVE = "sweep_sheet", "sweep_sheet_save"
_LABEL_CHARS = 40


@dataclass(frozen=True)
class SweepPoint:
    """One grid point: its values, its label and the ids of its copied nodes (original id -> copy)."""

    index: int
    values: Mapping[str, Any]
    label: str
    nodes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepPlan:
    """The graph of a sweep and where each point's results are."""

    prompt: dict[str, Any]
    axes: tuple[tuple[str, tuple[Any, ...]], ...]
    points: tuple[SweepPoint, ...]
    image_nodes: tuple[tuple[int, str], ...]  # (point index, copied image output node id)
    sheet: str | None = None  # the node that saves the contact sheet

    def results(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """The run's UI ``outputs`` per point, and the sheet's: ``{"points": [...], "sheet": [...]}``."""
        points = []
        for point in self.points:
            images = [image for index, node in self.image_nodes if index == point.index
                      for image in (outputs.get(node) or {}).get("images", [])]
            points.append({"index": point.index, "values": dict(point.values), "label": point.label, "images": images})
        sheet = (outputs.get(self.sheet) or {}).get("images", []) if self.sheet else []
        return {"axes": {name: list(values) for name, values in self.axes}, "points": points, "sheet": sheet}


def plan_sweep(prompt: Mapping[str, Any], parameters: Sequence[Parameter], grid: Any, registry: Registry,
               at: str = "/sweep") -> SweepPlan:
    """The one-job graph of a sweep (see the module docstring).

    Raises:
        WorkflowFormatError: ``bad_parameter`` errors for unknown axes, bad values or too many points.
    """
    axes, errors = _axes(prompt, parameters, grid, registry, at)
    count = 1
    for _, values in axes:
        count *= len(values)
    if not errors and count > MAX_POINTS:
        errors.append(GraphError(ErrorCode.BAD_PARAMETER, f"the sweep has {count} points; at most {MAX_POINTS} run "
                                 "as one job (split the grid)", pointer=at, details=f"{count} points",
                                 extra={"points": count}))
    if errors:
        raise WorkflowFormatError(errors)
    touched = {t.node for param, _ in axes for t in param.targets}
    affected = _downstream(prompt, touched)
    out = {nid: copy.deepcopy(node) for nid, node in prompt.items() if nid not in affected}
    points: list[SweepPoint] = []
    for index, combo in enumerate(itertools.product(*(values for _, values in axes))):
        ids = {nid: f"p{index}:{nid}" for nid in affected}
        clash = next((new for new in ids.values() if new in prompt), None)
        if clash is not None:
            raise WorkflowFormatError([GraphError(ErrorCode.INVALID_WORKFLOW, f"node id {clash!r} is taken; a "
                                                  "sweep names its copies p<index>:<id>", clash, pointer=at)])
        for nid in affected:
            out[ids[nid]] = _copy_node(prompt[nid], ids)
        values = {param.name: value for (param, _), value in zip(axes, combo, strict=True)}
        for (param, _), value in zip(axes, combo, strict=True):
            for target in param.targets:
                out[ids[target.node]]["inputs"][target.input] = {"__value__": value} if isinstance(value, list) else value
        points.append(SweepPoint(index, values, _label(values), ids))
    image_nodes = _image_outputs(prompt, affected, points, registry)
    plan = SweepPlan(out, tuple((p.name, vals) for p, vals in axes), tuple(points), tuple(image_nodes))
    return _with_sheet(plan, prompt, registry)


def _axes(prompt: Mapping[str, Any], parameters: Sequence[Parameter], grid: Any, registry: Registry,
          at: str) -> tuple[list[tuple[Parameter, tuple[Any, ...]]], list[GraphError]]:
    if not isinstance(grid, Mapping) or not grid:
        return [], [GraphError(ErrorCode.BAD_PARAMETER, "a sweep is an object of axis name to a list of values, e.g. "
                               '{"seed": [1, 2, 3]}', pointer=at)]
    by_name = {p.name: p for p in parameters}
    axes: list[tuple[Parameter, tuple[Any, ...]]] = []
    errors: list[GraphError] = []
    for name, values in grid.items():
        where = at + pointer(str(name))
        param = by_name.get(str(name))
        if param is None and "." in str(name):  # NODE.INPUT
            node, _, input_name = str(name).rpartition(".")
            found, problems = read_parameters({"axis": {"node": node, "input": input_name}}, prompt, registry, where)
            errors.extend(_renamed(e, where) for e in problems)
            param = dataclasses.replace(found[0], name=str(name)) if found else None
        elif param is None:
            errors.append(GraphError(ErrorCode.BAD_PARAMETER, f"sweep axis {name!r} is neither a parameter of the "
                                     f"workflow ({', '.join(by_name) or 'it has none'}) nor NODE.INPUT", pointer=where,
                                     extra={"parameter": name}))
            continue
        if param is None:
            continue
        if not isinstance(values, list) or not values:
            errors.append(GraphError(ErrorCode.BAD_PARAMETER, f"sweep axis {name!r} needs a non-empty list of values",
                                     pointer=where, extra={"parameter": name}))
            continue
        checked = []
        for i, value in enumerate(values):
            coerced, error = check_value(param, value, f"{where}/{i}")
            if error is not None:
                errors.append(error)
            checked.append(coerced)
        axes.append((param, tuple(checked)))
    return axes, errors


def _renamed(error: GraphError, where: str) -> GraphError:
    return GraphError(error.code, error.message.replace("parameter 'axis'", "sweep axis"), error.node_id,
                      error.input_name, where, error.details, error.extra)


def _downstream(prompt: Mapping[str, Any], start: set[str]) -> set[str]:
    """``start`` and every node that reads from one of them, directly or not."""
    readers: dict[str, list[str]] = {}
    for nid, node in prompt.items():
        for value in (node.get("inputs") or {}).values():
            link = parse_input(value)
            if isinstance(link, Link):
                readers.setdefault(link.node_id, []).append(nid)
    seen, stack = set(start), list(start)
    while stack:
        for reader in readers.get(stack.pop(), ()):
            if reader not in seen:
                seen.add(reader)
                stack.append(reader)
    return seen


def _copy_node(node: Mapping[str, Any], ids: Mapping[str, str]) -> dict[str, Any]:
    out = copy.deepcopy(dict(node))
    inputs = out.setdefault("inputs", {})
    for name, value in list(inputs.items()):
        link = parse_input(value)
        if isinstance(link, Link) and link.node_id in ids:
            inputs[name] = [ids[link.node_id], link.output]
    return out


def _label(values: Mapping[str, Any]) -> str:
    parts = []
    for name, value in values.items():
        text = value if isinstance(value, str) else json.dumps(value)
        text = " ".join(str(text).split())
        parts.append(f"{name}={text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 3] + '...'}")
    return ", ".join(parts)


def _image_outputs(prompt: Mapping[str, Any], affected: set[str], points: list[SweepPoint],
                   registry: Registry) -> list[tuple[int, str]]:
    """(point, copy id) of every swept output node with a linked ``images`` input."""
    originals = []
    for nid, node in prompt.items():
        spec = registry.spec(str(node.get("class_type")))
        if nid in affected and spec is not None and spec.is_output and isinstance(
                parse_input((node.get("inputs") or {}).get("images")), Link):
            originals.append(nid)
    return [(point.index, point.nodes[nid]) for point in points for nid in originals]


def _with_sheet(plan: SweepPlan, prompt: Mapping[str, Any], registry: Registry) -> SweepPlan:
    if not plan.image_nodes or registry.spec("ContactSheet") is None or registry.spec("SaveImage") is None:
        return plan
    if SHEET_NODE in prompt or SHEET_SAVE in prompt:
        return plan
    several = len(plan.image_nodes) > len(plan.points)
    labels, inputs = [], {}
    for n, (index, node_id) in enumerate(plan.image_nodes, start=1):
        label = plan.points[index].label
        if several:
            title = (plan.prompt[node_id].get("_meta") or {}).get("title") or node_id.split(":", 1)[1]
            label += f" ({title})"
        labels.append(label)
        inputs[f"image_{n}"] = plan.prompt[node_id]["inputs"]["images"]
    last_axis = len(plan.axes[-1][1]) if len(plan.axes) > 1 else 0
    columns = last_axis * (len(plan.image_nodes) // len(plan.points))
    prefix = plan.prompt[plan.image_nodes[0][1]]["inputs"].get("filename_prefix")
    prompt_out = dict(plan.prompt)
    prompt_out[SHEET_NODE] = {"class_type": "ContactSheet", "_meta": {"title": "Sweep contact sheet"},
                              "inputs": {"labels": "\n".join(labels), "columns": columns,
                                         "title": " x ".join(name for name, _ in plan.axes), **inputs}}
    prompt_out[SHEET_SAVE] = {"class_type": "SaveImage", "_meta": {"title": "Save contact sheet"},
                              "inputs": {"images": [SHEET_NODE, 0],
                                         "filename_prefix": f"{prefix if isinstance(prefix, str) else 'sweep'}_sheet"}}
    return SweepPlan(prompt_out, plan.axes, plan.points, plan.image_nodes, SHEET_SAVE)
