"""A :class:`~graph.spec.NodeSpec` rendered as ComfyUI's ``/object_info`` entry (reference 1.9).

Keys, in ComfyUI's order: ``input`` (``required`` / ``optional`` / ``hidden``), ``input_order``,
``output``, ``output_is_list``, ``output_name``, ``name``, ``display_name``, ``description``,
``python_module``, ``category``, ``output_node``, then ``output_tooltips`` (when any output has one),
``deprecated``, ``experimental`` and ``api_node`` (only when true).

Where an input is listed: a required input, or a widget input with a default, goes under ``required``
(ComfyUI UIs expect widgets there); other optional inputs under ``optional``. A spec read from a ComfyUI
class carries the sections it was declared in (``extra_info["ui_sections"]``), which win. COMBO choices are
computed now, at render time, so model lists are current; a node whose choices cannot be computed is left
out of :func:`object_info` (and logged) rather than failing the whole listing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from graph.spec import MISSING, PRIMITIVE_TYPES, InputSpec, NodeSpec

logger = logging.getLogger(__name__)

#: ``NodeSpec.extra_info`` key: ``{input name: "required" | "optional"}``, where a ComfyUI class declared
#: each input (set by :mod:`nodes.comfy`; absent for native specs).
UI_SECTIONS = "ui_sections"
#: ``NodeSpec.extra_info`` key: names of COMBO inputs declared as ``("COMBO", {"options": [...]})`` rather
#: than as a legacy list of choices.
UI_COMBO_TYPE = "ui_combo_type"


def input_section(spec: NodeSpec, inp: InputSpec) -> str:
    """``"required"`` or ``"optional"``: where ``/object_info`` lists ``inp``."""
    declared = spec.extra_info.get(UI_SECTIONS, {}).get(inp.name)
    if declared is not None:
        return str(declared)
    if inp.required or (inp.type in PRIMITIVE_TYPES and inp.default is not MISSING):
        return "required"
    return "optional"


def input_entry(inp: InputSpec, combo_type: bool = False) -> list[Any]:
    """``[type, options]`` (or ``[type]`` without options); a COMBO as ``[choices, options]``, or
    ``["COMBO", {"options": choices, ...}]`` when ``combo_type``."""
    options: dict[str, Any] = {}
    if inp.default is not MISSING:
        options["default"] = inp.default
    if inp.min is not None:
        options["min"] = inp.min
    if inp.max is not None:
        options["max"] = inp.max
    options.update(inp.options)
    if inp.lazy:
        options["lazy"] = True
    if inp.raw_link:
        options["rawLink"] = True
    kind: Any = inp.type
    if inp.type == "COMBO":
        choices = list(inp.resolved_choices() or [])
        if combo_type:
            options["options"] = choices
        else:
            kind = choices
    return [kind, options] if options else [kind]


def node_info(spec: NodeSpec) -> dict[str, Any]:
    """The ``/object_info`` entry of one node.

    Raises:
        Exception: whatever a COMBO choices provider raises.
    """
    combo_type = spec.extra_info.get(UI_COMBO_TYPE, frozenset())
    inputs: dict[str, dict[str, Any]] = {"required": {}, "optional": {}}
    for inp in spec.inputs:
        inputs[input_section(spec, inp)][inp.name] = input_entry(inp, inp.name in combo_type)
    if not inputs["optional"]:
        del inputs["optional"]
    if spec.hidden:
        inputs["hidden"] = {h.name: h.kind for h in spec.hidden}
    info: dict[str, Any] = {
        "input": inputs,
        "input_order": {section: list(entries) for section, entries in inputs.items()},
        "output": [o.type for o in spec.outputs],
        "output_is_list": [o.is_list for o in spec.outputs],
        "output_name": [o.name for o in spec.outputs],
        "name": spec.type_name,
        "display_name": spec.display_name or spec.type_name,
        "description": spec.description,
        "python_module": spec.python_module,
        "category": spec.category,
        "output_node": spec.is_output,
    }
    if any(o.tooltip is not None for o in spec.outputs):
        info["output_tooltips"] = [o.tooltip for o in spec.outputs]
    if spec.deprecated:
        info["deprecated"] = True
    if spec.experimental:
        info["experimental"] = True
    if spec.extra_info.get("api_node"):
        info["api_node"] = True
    return info


def object_info(specs: Iterable[NodeSpec]) -> dict[str, dict[str, Any]]:
    """``{type_name: node_info(spec)}``; a node whose rendering raises is logged and left out."""
    out: dict[str, dict[str, Any]] = {}
    for spec in specs:
        try:
            out[spec.type_name] = node_info(spec)
        except Exception:
            logger.exception("object_info: could not describe node %r; it is left out", spec.type_name)
    return out
