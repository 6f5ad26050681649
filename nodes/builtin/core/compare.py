"""IntCompare and FloatCompare: ``a <op> b`` as a BOOLEAN (feeds Switch)."""

import operator
from collections.abc import Callable
from typing import Annotated, Any, Literal

from nodes.api import Range, node

Comparison = Literal["==", "!=", "<", "<=", ">", ">="]
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
INT64 = Range(-(2**63), 2**63 - 1)


@node("IntCompare", display_name="Int Compare", category="utils/logic")
def int_compare(a: Annotated[int, INT64] = 0, b: Annotated[int, INT64] = 0, operation: Comparison = "==") -> bool:
    """Compare two integers."""
    return bool(COMPARISONS[operation](a, b))


@node("FloatCompare", display_name="Float Compare", category="utils/logic")
def float_compare(
    a: Annotated[float, Range(-1e300, 1e300, step=0.01)] = 0.0,
    b: Annotated[float, Range(-1e300, 1e300, step=0.01)] = 0.0,
    operation: Comparison = "==",
) -> bool:
    """Compare two floats (exactly: == on results of arithmetic may surprise)."""
    return bool(COMPARISONS[operation](a, b))


LATENTLOOM_NODES = [int_compare, float_compare]
