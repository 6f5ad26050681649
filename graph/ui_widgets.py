"""Where a node's widget values sit in a UI-format ``widgets_values`` list.

The editor stores widget values by position: one entry per widget in the order the editor created them
(comfyui-reference 3.2). The editor creates a widget for every input of a widget type (INT, FLOAT, STRING,
BOOLEAN, COMBO) that is not ``forceInput``, required inputs first and optional ones after, each section
in declaration order. It adds widgets of its own that never reach the API prompt:

* ``control_after_generate`` (``fixed``, ``increment``, ``decrement``, ``randomize``) right after an INT
  or COMBO input that asks for it. Inputs named ``seed`` or ``noise_seed`` that do not say either way got
  one from older editors; both layouts are tried.
* a filter widget after the control of a COMBO (older editors only); both layouts are tried.
* the upload button of an ``image_upload`` COMBO (LoadImage stores ``["example.png", "image"]``): right
  after its input, or, as the editor's upload extension appends it, after the last required input; both
  layouts are tried.

:func:`layouts` lists the candidate layouts, the most likely first; :func:`match_layout` picks the one
whose length equals the stored list and whose values fit best (client-only slots hold their known words,
numbers sit on INT and FLOAT inputs, a COMBO with a fixed list holds one of its choices). Values that fit
no layout at all are a conversion error raised by :mod:`graph.ui_format`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graph.spec import MISSING, PRIMITIVE_TYPES, InputSpec, NodeSpec

__all__ = ["CONTROL_VALUES", "Slot", "is_widget", "layouts", "match_layout", "ui_order"]

#: The words a ``control_after_generate`` widget holds.
CONTROL_VALUES = frozenset({"fixed", "increment", "decrement", "randomize", "increment-wrap"})
#: Names that got a seed control from older editors even without ``control_after_generate``.
_SEED_NAMES = ("seed", "noise_seed")
#: Upload flags of COMBO inputs and the value their button stores.
_UPLOAD_FLAGS = ("image_upload", "video_upload", "audio_upload", "animated_image_upload")
#: ``NodeSpec.extra_info`` key (see nodes/object_info.py): where a ComfyUI class declared each input.
_UI_SECTIONS = "ui_sections"
_MAX_LAYOUTS = 32


@dataclass(frozen=True, slots=True)
class Slot:
    """One position of ``widgets_values``: an input's widget, or a client-only widget (``input`` None)."""

    name: str
    input: InputSpec | None = None
    kind: str = "value"  # "value", "control", "filter" or "upload"


def is_widget(inp: InputSpec) -> bool:
    """True when the editor shows ``inp`` as a widget (and stores its value in ``widgets_values``)."""
    if inp.options.get("forceInput") or inp.raw_link:
        return False
    return inp.type in PRIMITIVE_TYPES or inp.choices is not None


def _section(spec: NodeSpec, inp: InputSpec) -> str:
    declared = spec.extra_info.get(_UI_SECTIONS, {}).get(inp.name)
    if declared is not None:
        return str(declared)
    if inp.required or (inp.type in PRIMITIVE_TYPES and inp.default is not MISSING):
        return "required"
    return "optional"


def ui_order(spec: NodeSpec) -> list[InputSpec]:
    """The inputs in the editor's order: the ``required`` section, then ``optional`` (as /object_info)."""
    required = [i for i in spec.inputs if _section(spec, i) == "required"]
    return required + [i for i in spec.inputs if _section(spec, i) != "required"]


def layouts(spec: NodeSpec) -> list[list[Slot]]:
    """Every plausible layout of ``widgets_values`` for ``spec``, the most likely first."""
    widgets = [inp for inp in ui_order(spec) if is_widget(inp)]
    required_count = sum(1 for inp in widgets if _section(spec, inp) == "required")
    choices: list[list[tuple[str, ...]]] = []  # per widget, the variants of its trailing client slots
    for inp in widgets:
        flag = inp.options.get("control_after_generate")
        combo = inp.type == "COMBO" or inp.choices is not None
        if flag:
            variants: list[tuple[str, ...]] = [("control",), ("control", "filter")] if combo else [("control",)]
        elif flag is None and inp.type == "INT" and inp.name in _SEED_NAMES:
            variants = [("control",), ()]
        else:
            variants = [()]
        choices.append(variants)
    upload = next((i for i, inp in enumerate(widgets) if any(inp.options.get(f) for f in _UPLOAD_FLAGS)), None)
    upload_places: list[int | None] = [None]
    if upload is not None:
        after_required = max(required_count - 1, upload)
        upload_places = list(dict.fromkeys([upload, after_required]))
    found: list[list[Slot]] = []
    for combo_choice in itertools.product(*choices):
        for place in upload_places:
            slots: list[Slot] = []
            for i, (inp, extra) in enumerate(zip(widgets, combo_choice, strict=True)):
                slots.append(Slot(inp.name, inp))
                slots.extend(Slot(f"{inp.name}.{kind}", None, kind) for kind in extra)
                if place == i:
                    slots.append(Slot("upload", None, "upload"))
            found.append(slots)
            if len(found) >= _MAX_LAYOUTS:
                return found
    return found


def match_layout(candidates: Sequence[list[Slot]], values: Sequence[Any]) -> list[Slot] | None:
    """The candidate of the right length whose slots fit ``values`` best (earlier wins ties), or None."""
    best: tuple[int, list[Slot]] | None = None
    for slots in candidates:
        if len(slots) != len(values):
            continue
        misfits = sum(0 if _fits(slot, value) else 1 for slot, value in zip(slots, values, strict=True))
        if best is None or misfits < best[0]:
            best = (misfits, slots)
    return None if best is None else best[1]


def _fits(slot: Slot, value: Any) -> bool:
    if slot.kind == "control":
        return value in CONTROL_VALUES
    if slot.kind in ("filter", "upload"):
        return value is None or isinstance(value, str)
    inp = slot.input
    assert inp is not None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if inp.type in ("INT", "FLOAT"):
        return number
    if inp.type == "BOOLEAN":
        return isinstance(value, bool)
    if inp.type == "STRING":
        return isinstance(value, str)
    if inp.choices is not None and not callable(inp.choices):
        return value in list(inp.choices)
    return isinstance(value, (str, int, float)) or value is None
