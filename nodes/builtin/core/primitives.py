"""Primitive value nodes (ComfyUI's ``Primitive*``): a widget whose value feeds other nodes."""

import sys
from typing import Annotated

from nodes.api import Range, Widget, node


@node("PrimitiveInt", display_name="Int", category="utils/primitive")
def primitive_int(
    value: Annotated[int, Range(-sys.maxsize, sys.maxsize), Widget(control_after_generate=True)] = 0,
) -> int:
    """An integer."""
    return value


@node("PrimitiveFloat", display_name="Float", category="utils/primitive")
def primitive_float(value: Annotated[float, Range(-sys.maxsize, sys.maxsize, step=0.1)] = 0.0) -> float:
    """A floating-point number."""
    return value


@node("PrimitiveString", display_name="String", category="utils/primitive")
def primitive_string(value: str = "") -> str:
    """A single-line string."""
    return value


@node("PrimitiveStringMultiline", display_name="String (Multiline)", category="utils/primitive")
def primitive_string_multiline(value: Annotated[str, Widget(multiline=True)] = "") -> str:
    """A multi-line string."""
    return value


@node("PrimitiveBoolean", display_name="Boolean", category="utils/primitive")
def primitive_boolean(value: bool = False) -> bool:
    """A boolean."""
    return value


LATENTLOOM_NODES = [primitive_int, primitive_float, primitive_string, primitive_string_multiline, primitive_boolean]
