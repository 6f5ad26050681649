"""IntMath and FloatMath: one binary operation chosen from a list."""

import math
import operator
from collections.abc import Callable
from typing import Annotated, Literal

from nodes.api import Range, Widget, node

Operation = Literal["add", "subtract", "multiply", "divide", "modulo", "power", "min", "max"]
INT64 = Range(-(2**63), 2**63 - 1)
#: Larger integer powers would take unbounded time and memory.
MAX_POWER_BITS = 4096


def _int_power(a: int, b: int) -> int:
    if b < 0:
        raise ValueError(f"IntMath power: the exponent {b} is negative and the result is a fraction; use FloatMath")
    if abs(a) > 1 and b * math.log2(abs(a)) > MAX_POWER_BITS:
        raise ValueError(f"IntMath power: {a} ** {b} has more than {MAX_POWER_BITS} bits")
    return a**b


def _nonzero(b: float, what: str) -> float:
    if b == 0:
        raise ValueError(f"{what}: b is 0; division and modulo need a non-zero b")
    return b


INT_OPERATIONS: dict[str, Callable[[int, int], int]] = {
    "add": operator.add,
    "subtract": operator.sub,
    "multiply": operator.mul,
    "divide": lambda a, b: a // int(_nonzero(b, "IntMath divide")),  # floor division, like Python's //
    "modulo": lambda a, b: a % int(_nonzero(b, "IntMath modulo")),
    "power": _int_power,
    "min": min,
    "max": max,
}

FLOAT_OPERATIONS: dict[str, Callable[[float, float], float]] = {
    "add": operator.add,
    "subtract": operator.sub,
    "multiply": operator.mul,
    "divide": lambda a, b: a / _nonzero(b, "FloatMath divide"),
    "modulo": lambda a, b: a % _nonzero(b, "FloatMath modulo"),
    "power": math.pow,  # raises ValueError instead of returning a complex number
    "min": min,
    "max": max,
}


@node("IntMath", display_name="Int Math", category="utils/math")
def int_math(
    a: Annotated[int, INT64] = 0,
    b: Annotated[int, INT64] = 0,
    operation: Annotated[Operation, Widget(tooltip="divide is floor division; modulo takes the sign of b")] = "add",
) -> int:
    """a <operation> b on integers."""
    return INT_OPERATIONS[operation](a, b)


@node("FloatMath", display_name="Float Math", category="utils/math")
def float_math(
    a: Annotated[float, Range(-1e300, 1e300, step=0.01)] = 0.0,
    b: Annotated[float, Range(-1e300, 1e300, step=0.01)] = 0.0,
    operation: Operation = "add",
) -> float:
    """a <operation> b on floats."""
    return float(FLOAT_OPERATIONS[operation](a, b))


LATENTLOOM_NODES = [int_math, float_math]
