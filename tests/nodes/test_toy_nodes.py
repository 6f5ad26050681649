"""The toy nodes used by engine tests behave as documented in tests/resources/toy_nodes.py."""

import asyncio
import math
from typing import Any

import pytest

from graph.context import CancelToken, NodeContext, reset_current, set_current
from graph.errors import Interrupted
from graph.spec import ExecutionBlocker, NodeOutput
from graph.workflow import Link
from nodes.registry import NodeRegistry
from tests.resources.toy_nodes import toy_registry

NAMES = [
    "Add", "Mul", "Const", "Fail", "Slow", "Switch", "ListOut", "ListSum", "RepeatAdd", "AsyncSleep", "Block",
    "Output", "RandomInt", "Counter",
]


def _run(registry: NodeRegistry, name: str, **inputs: Any) -> Any:
    spec = registry.spec(name)
    assert spec is not None
    return spec.create().run(**inputs)


def test_toy_registry_contents(toy_nodes: NodeRegistry) -> None:
    assert toy_nodes.names() == NAMES
    assert _run(toy_nodes, "Add", a=2, b=3) == NodeOutput((5,))
    assert _run(toy_nodes, "Mul", a=2, b=3) == NodeOutput((6,))
    assert _run(toy_nodes, "Const", value=7) == NodeOutput((7,))


def test_fail_raises_its_message(toy_nodes: NodeRegistry) -> None:
    with pytest.raises(ValueError, match="boom"):
        _run(toy_nodes, "Fail", message="boom")


def test_counter_counts_per_node_id(toy_nodes: NodeRegistry, toy_calls: dict[str, int]) -> None:
    _run(toy_nodes, "Counter", x=1, unique_id="3")
    _run(toy_nodes, "Counter", x=1, unique_id="3")
    _run(toy_nodes, "Counter", x=1, unique_id="4")
    assert toy_calls == {"3": 2, "4": 1}
    assert toy_registry().spec("Counter") is not toy_nodes.spec("Counter")  # a fresh closure per registry


def test_switch_lists_and_expansion(toy_nodes: NodeRegistry) -> None:
    switch = toy_nodes.spec("Switch")
    assert switch is not None and switch.has_lazy_check
    assert switch.create().check_lazy(cond=False, on_true=None, on_false=None) == ["on_false"]
    assert _run(toy_nodes, "ListOut", count=3) == NodeOutput(([0, 1, 2],))
    assert toy_nodes.spec("ListOut").outputs[0].is_list  # type: ignore[union-attr]
    assert toy_nodes.spec("ListSum").input_is_list  # type: ignore[union-attr]
    assert _run(toy_nodes, "ListSum", values=[1, 2, 3]) == NodeOutput((6,))
    out = _run(toy_nodes, "RepeatAdd", x=4, times=3)
    assert out.values == (Link("3", 0),) and len(out.expand) == 3
    assert out.expand["3"] == {"class_type": "Add", "inputs": {"a": ["2", 0], "b": 4}}
    assert _run(toy_nodes, "RepeatAdd", x=4, times=0) == NodeOutput((0,))


def test_async_block_output_and_random(toy_nodes: NodeRegistry) -> None:
    assert toy_nodes.spec("AsyncSleep").is_async  # type: ignore[union-attr]
    assert asyncio.run(_run(toy_nodes, "AsyncSleep", value="v", seconds=0)) == NodeOutput(("v",))
    blocked = _run(toy_nodes, "Block", value=1, message="stop")
    assert isinstance(blocked.values[0], ExecutionBlocker) and blocked.values[0].message == "stop"
    assert _run(toy_nodes, "Block", value=1, message="").values[0].message is None
    assert _run(toy_nodes, "Block", value=1, block=False) == NodeOutput((1,))
    output = toy_nodes.spec("Output")
    assert output is not None and output.is_output and output.outputs == ()
    assert _run(toy_nodes, "Output", value=5) == NodeOutput((), ui={"value": [5]})
    random_int = toy_nodes.spec("RandomInt")
    assert random_int is not None and random_int.not_idempotent and random_int.fingerprint is not None
    assert math.isnan(random_int.fingerprint(low=0, high=3))
    assert 0 <= _run(toy_nodes, "RandomInt", low=0, high=3).values[0] <= 3


def _context(cancel: CancelToken, reports: list[tuple[float, float]]) -> NodeContext:
    return NodeContext("p", "1", "1", "Slow", 0, cancel, lambda v, t, preview: reports.append((v, t)), {})


def test_slow_reports_progress_and_stops_on_interrupt(toy_nodes: NodeRegistry) -> None:
    reports: list[tuple[float, float]] = []
    cancel = CancelToken()
    token = set_current(_context(cancel, reports))
    try:
        assert _run(toy_nodes, "Slow", x=1, seconds=0, steps=3) == NodeOutput((1,))
        assert reports == [(1, 3), (2, 3), (3, 3)]
        cancel.cancel()
        with pytest.raises(Interrupted):
            _run(toy_nodes, "Slow", x=1, seconds=0, steps=3)
    finally:
        reset_current(token)
