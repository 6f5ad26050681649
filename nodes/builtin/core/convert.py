"""Conversions between primitive types: IntToFloat, FloatToInt, ToString."""

import math
from typing import Annotated

from nodes.api import AnyType, Range, node


@node("IntToFloat", display_name="Int to Float", category="utils/convert")
def int_to_float(value: Annotated[int, Range(-(2**63), 2**63 - 1)] = 0) -> float:
    """The integer as a float."""
    return float(value)


@node("FloatToInt", display_name="Float to Int", category="utils/convert")
def float_to_int(value: float = 0.0) -> int:
    """The float truncated toward zero.

    Raises:
        ValueError: ``value`` is NaN or infinite.
    """
    if not math.isfinite(value):
        raise ValueError(f"FloatToInt: {value} has no integer value")
    return int(value)


@node("ToString", display_name="To String", category="utils/convert")
def to_string(value: AnyType) -> str:
    """The value as text (Python str)."""
    return str(value)


LATENTLOOM_NODES = [int_to_float, float_to_int, to_string]
