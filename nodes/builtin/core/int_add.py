"""IntAdd: the smallest useful node (the engine benchmark chains thousands of them)."""

from typing import Annotated

from nodes.api import Range, node

INT64 = Range(-(2**63), 2**63 - 1)


@node("IntAdd", display_name="Int Add", category="utils/math")
def int_add(a: Annotated[int, INT64] = 0, b: Annotated[int, INT64] = 0) -> int:
    """a + b."""
    return a + b


LATENTLOOM_NODES = [int_add]
