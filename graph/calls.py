"""Calling a node over lists and merging what the calls return (ComfyUI's list semantics).

Every output slot holds a list of items. A node is called once per index of its longest input list
(shorter lists repeat their last item; an empty list means no call), or once with the whole lists when it
takes lists (``input_is_list``). Per-call results are gathered per slot; a list output's per-call lists are
concatenated. A call that receives an :class:`~graph.spec.ExecutionBlocker` is not made: every output of
that call becomes the blocker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from graph.spec import ExecutionBlocker, NodeOutput, NodeSpec
from graph.workflow import Link


class Blocked:
    """Marks a call that did not run because an input was blocked."""

    __slots__ = ("blocker",)

    def __init__(self, blocker: ExecutionBlocker) -> None:
        self.blocker = blocker


async def await_(awaitable: Any) -> Any:
    return await awaitable


def completed(loop: asyncio.AbstractEventLoop, value: Any) -> asyncio.Future[Any]:
    fut = loop.create_future()
    fut.set_result(value)
    return fut


def split_calls(spec: NodeSpec, lists: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The keyword arguments of each call (ComfyUI's list mapping)."""
    if spec.input_is_list:
        return [lists]
    if not lists:
        return [{}]
    n = max(len(v) for v in lists.values())
    if n == 1:
        return [{k: v[0] for k, v in lists.items()}]
    if any(len(v) == 0 for v in lists.values()):
        return []
    return [{k: v[i] if i < len(v) else v[-1] for k, v in lists.items()} for i in range(n)]


def find_blocker(kwargs: Mapping[str, Any], whole_lists: bool) -> ExecutionBlocker | None:
    for value in kwargs.values():
        if isinstance(value, ExecutionBlocker):
            return value
        if whole_lists and isinstance(value, list):
            for item in value:
                if isinstance(item, ExecutionBlocker):
                    return item
    return None


def normalise(result: Any, spec: NodeSpec) -> NodeOutput:
    n = len(spec.outputs)
    if isinstance(result, Blocked):
        return NodeOutput((result.blocker,) * n)
    if isinstance(result, ExecutionBlocker):
        return NodeOutput((result,) * n)
    if not isinstance(result, NodeOutput):
        raise TypeError(f"{spec.type_name}: run() must return a NodeOutput, got {type(result).__name__}; wrap results with the node API")
    if len(result.values) != n and not (result.expand is None and not result.values and spec.is_output):
        raise TypeError(f"{spec.type_name} returned {len(result.values)} values for {n} outputs")
    return result


def merge(spec: NodeSpec, outs: list[NodeOutput]) -> tuple[list[Any], ...]:
    slots: list[list[Any]] = [[] for _ in spec.outputs]
    for out in outs:
        for j, value in enumerate(out.values[: len(slots)]):
            if spec.outputs[j].is_list and not isinstance(value, ExecutionBlocker):
                slots[j].extend(value)
            else:
                slots[j].append(value)
    return tuple(slots)


def merge_expanded(spec: NodeSpec, concrete: list[tuple[NodeOutput, tuple[Any, ...]]]) -> tuple[list[Any], ...]:
    """Outputs of an expanded node: a linked value contributes the whole list its source produced."""
    slots: list[list[Any]] = [[] for _ in spec.outputs]
    for out, values in concrete:
        for j, value in enumerate(values[: len(slots)]):
            if isinstance(out.values[j], Link) or (spec.outputs[j].is_list and isinstance(value, list)):
                slots[j].extend(value)
            else:
                slots[j].append(value)
    return tuple(slots)


def merge_ui(outs: Sequence[NodeOutput]) -> Mapping[str, Any] | None:
    uis = [o.ui for o in outs if o.ui]
    if not uis:
        return None
    if len(uis) == 1:
        return uis[0]
    merged: dict[str, Any] = {}
    for ui in uis:
        for k, v in ui.items():
            if isinstance(v, list) and isinstance(merged.get(k), list):
                merged[k] = merged[k] + v
            else:
                merged[k] = list(v) if isinstance(v, list) else v
    return merged


def short(value: Any, limit: int = 200) -> Any:
    """A JSON-safe, bounded form of an input value for error reports."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "..."
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{type(value).__name__}(shape={list(shape)}, dtype={getattr(value, 'dtype', '?')})"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
