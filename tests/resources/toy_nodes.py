"""Toy nodes for engine tests, written with the native API (no torch, no models).

``toy_registry(calls)`` returns a fresh :class:`~nodes.registry.NodeRegistry` holding:

===========  ==================================================================================
Add, Mul     ``a + b`` / ``a * b`` on INT.
Const        its ``value`` as INT.
Fail         raises ``ValueError(message)``.
Slow         sleeps ``seconds`` in ``steps`` steps, reporting progress and checking interrupt.
Counter      returns ``x``; counts its calls per node id in ``calls`` (``{"3": 1}``).
Switch       lazy ``on_true`` / ``on_false`` chosen by ``cond``.
ListOut      OUTPUT_IS_LIST: ``[0, 1, ..., count - 1]``.
ListSum      INPUT_IS_LIST: the sum of every item of ``values``.
RepeatAdd    expands into a chain of ``times`` Add nodes computing ``x * times``.
AsyncSleep   ``async``: awaits ``asyncio.sleep(seconds)`` and returns ``value``.
Block        returns ``ExecutionBlocker(message or None)`` when ``block``, else ``value``.
Output       an output node with ui ``{"value": [value]}``.
RandomInt    not idempotent, fingerprint NaN (always re-runs).
===========  ==================================================================================
"""

import asyncio
import random
import time
from typing import Annotated, Any

from graph.context import check_interrupt, progress
from nodes.api import AnyType, ExecutionBlocker, GraphBuilder, Hidden, Lazy, ListOutput, Range, Result, node
from nodes.registry import NodeRegistry


@node("Add")
def add(a: int = 0, b: int = 0) -> int:
    return a + b


@node("Mul")
def mul(a: int = 1, b: int = 1) -> int:
    return a * b


@node("Const")
def const(value: int = 0) -> int:
    return value


@node("Fail")
def fail(x: AnyType | None = None, message: str = "toy failure") -> AnyType:
    raise ValueError(message)


@node("Slow")
def slow(x: AnyType, seconds: float = 0.05, steps: int = 5) -> AnyType:
    for step in range(steps):
        time.sleep(seconds / max(steps, 1))
        progress(step + 1, steps)
        check_interrupt()
    return x


def _needed(cond: bool, on_true: Any = None, on_false: Any = None) -> list[str]:
    if cond and on_true is None:
        return ["on_true"]
    if not cond and on_false is None:
        return ["on_false"]
    return []


@node("Switch", check_lazy=_needed)
def toy_switch(cond: bool, on_true: Annotated[AnyType, Lazy()], on_false: Annotated[AnyType, Lazy()]) -> AnyType:
    return on_true if cond else on_false


@node("ListOut")
def list_out(count: Annotated[int, Range(0, 10_000)] = 3) -> Annotated[list[int], ListOutput()]:
    return list(range(count))


@node("ListSum", input_is_list=True)
def list_sum(values: list[int]) -> int:
    return sum(values)


@node("RepeatAdd")
def repeat_add(x: int = 0, times: Annotated[int, Range(0, 1000)] = 2) -> int:
    """x * times, computed by a chain of Add nodes the node expands into."""
    if times == 0:
        return 0
    b = GraphBuilder()
    link = b.node("Add", a=0, b=x).out(0)
    for _ in range(times - 1):
        link = b.node("Add", a=link, b=x).out(0)
    return Result(link, expand=b)  # type: ignore[return-value]


@node("AsyncSleep")
async def async_sleep(value: AnyType, seconds: float = 0.01) -> AnyType:
    await asyncio.sleep(seconds)
    return value


@node("Block")
def block(value: AnyType, block: bool = True, message: str = "blocked") -> AnyType:
    return ExecutionBlocker(message or None) if block else value


@node("Output", output=True)
def output(value: AnyType) -> None:
    return Result(ui={"value": [value]})  # type: ignore[return-value]


def _always_changed() -> float:
    return float("nan")


@node("RandomInt", not_idempotent=True, fingerprint=_always_changed)
def random_int(low: int = 0, high: int = 1_000_000) -> int:
    return random.randint(low, high)


TOY_NODES = [
    add, mul, const, fail, slow, toy_switch, list_out, list_sum, repeat_add, async_sleep, block, output, random_int,
]


def toy_registry(calls: dict[str, int] | None = None) -> NodeRegistry:
    """A fresh registry of the toy nodes; ``Counter`` counts its calls per node id into ``calls``."""
    counts = calls if calls is not None else {}

    @node("Counter")
    def counter(x: int = 0, unique_id: Annotated[str, Hidden("UNIQUE_ID")] = "") -> int:
        counts[unique_id] = counts.get(unique_id, 0) + 1
        return x

    registry = NodeRegistry()
    for fn in (*TOY_NODES, counter):
        registry.register(fn, source="toy")
    return registry
