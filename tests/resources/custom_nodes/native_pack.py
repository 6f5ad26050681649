"""A fixture pack in latentloom's native convention (a single file)."""

from nodes.api import node


@node("NativeDouble", category="fixture")
def native_double(x: int = 0) -> int:
    return 2 * x


@node("NativeGreet", category="fixture")
def native_greet(name: str = "world") -> str:
    return f"hello {name}"


LATENTLOOM_NODES = [native_double, native_greet]
