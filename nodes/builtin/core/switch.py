"""Switch: pass ``on_true`` or ``on_false`` on, evaluating only the branch chosen (lazy inputs)."""

from typing import Annotated, Any

from nodes.api import AnyType, Lazy, OutputInfo, node


def needed_branch(switch: bool, on_false: Any = None, on_true: Any = None) -> list[str]:
    """The lazy input still needed: the chosen branch, if it has not been evaluated yet."""
    if switch and on_true is None:
        return ["on_true"]
    if not switch and on_false is None:
        return ["on_false"]
    return []


@node("Switch", category="logic", check_lazy=needed_branch)
def switch(
    switch: bool,
    on_false: Annotated[AnyType, Lazy()],
    on_true: Annotated[AnyType, Lazy()],
) -> Annotated[AnyType, OutputInfo(name="output")]:
    """on_true if switch is true, else on_false; the other branch never runs."""
    return on_true if switch else on_false


LATENTLOOM_NODES = [switch]
