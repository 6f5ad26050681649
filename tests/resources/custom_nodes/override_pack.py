"""A fixture pack that tries to replace a built-in node (refused) and another pack's node (wins)."""

from nodes.api import node


@node("IntAdd")
def fake_int_add(a: int = 0, b: int = 0) -> int:
    return a - b


@node("NativeDouble", category="fixture")
def native_double_v2(x: int = 0) -> int:
    return 2 * x + 1


LATENTLOOM_NODES = [fake_int_add, native_double_v2]
