"""The node APIs against the real validator and executor: the contract of graph/spec.py, end to end."""

from pathlib import Path
from typing import Any

import pytest

from graph.executor import Executor, RunResult
from graph.validate import TypeNameSource, validate
from graph.workflow import Workflow
from nodes.api import GraphBuilder
from nodes.registry import NodeRegistry, default_registry, load_custom_nodes
from tests.resources.toy_nodes import toy_registry


def _run(registry: Any, workflow: Workflow) -> RunResult:
    report = validate(workflow, registry)
    assert report.ok, [str(e) for e in report.errors]
    return Executor(registry).run(report.workflow)


@pytest.fixture(scope="module")
def core() -> NodeRegistry:
    registry, report = default_registry(entry_points=False)
    assert report.ok
    return registry


def test_core_graph_with_lazy_switch(core: NodeRegistry) -> None:
    b = GraphBuilder()
    steps = b.node("PrimitiveInt", value=20)
    double = b.node("IntMath", a=steps.out(0), b=2, operation="multiply")
    big = b.node("IntCompare", a=double.out(0), b=30, operation=">")
    text = b.node("StringFormat", template="{a} steps", a=b.node("PrimitiveInt", value=40).out(0))
    never = b.node("FloatToInt", value=float("nan"))  # would fail if it ran
    chosen = b.node("Switch", switch=big.out(0), on_true=text.out(0), on_false=never.out(0))
    preview = b.node("PreviewAny", source=chosen.out(0))
    result = _run(core, b.workflow())
    assert result.ok, result.error
    assert result.ui[preview.id] == {"text": ["40 steps"]}
    assert never.id not in result.executed


def test_missing_widget_values_use_defaults(core: NodeRegistry) -> None:
    b = GraphBuilder()
    add = b.node("IntAdd", a=5)  # b is left out: the Python default applies
    b.node("PreviewAny", source=add.out(0))
    result = _run(core, b.workflow())
    assert result.ui[str(len(b))] == {"text": ["5"]}


def test_registry_gives_did_you_mean_hints(core: NodeRegistry) -> None:
    assert isinstance(core, TypeNameSource)
    report = validate(Workflow.parse({"1": {"class_type": "PreviewAnyy", "inputs": {}}}), core)
    assert any("PreviewAny" in str(e) for e in report.errors), report.errors


def test_lazy_branch_sharing_an_upstream_node(core: NodeRegistry) -> None:
    b = GraphBuilder()
    steps = b.node("PrimitiveInt", value=20)
    big = b.node("IntCompare", a=steps.out(0), b=10, operation=">")
    text = b.node("StringFormat", template="{a} steps", a=steps.out(0))  # also reads node 1, lazily reached
    chosen = b.node("Switch", switch=big.out(0), on_true=text.out(0), on_false=text.out(0))
    preview = b.node("PreviewAny", source=chosen.out(0))
    result = _run(core, b.workflow())
    assert result.ok, result.error
    assert result.ui[preview.id] == {"text": ["20 steps"]}


def test_toy_lists_expansion_async_and_blockers() -> None:
    calls: dict[str, int] = {}
    registry = toy_registry(calls)
    b = GraphBuilder()
    items = b.node("ListOut", count=4)
    plus = b.node("Add", a=items.out(0), b=10)  # runs once per item
    total = b.node("ListSum", values=plus.out(0))
    repeated = b.node("RepeatAdd", x=total.out(0), times=3)
    waited = b.node("AsyncSleep", value=repeated.out(0), seconds=0)
    counted = b.node("Counter", x=waited.out(0))
    out = b.node("Output", value=counted.out(0))
    blocked = b.node("Block", value=1, message="")
    b.node("Output", value=blocked.out(0))
    result = _run(registry, b.workflow())
    assert result.ok, result.error
    assert result.ui[out.id] == {"value": [(10 + 11 + 12 + 13) * 3]}
    assert calls == {counted.id: 1}


def test_comfy_pack_nodes_run(custom_nodes_dir: Path) -> None:
    registry = NodeRegistry()
    load_custom_nodes(registry, [custom_nodes_dir])
    b = GraphBuilder()
    product = b.node("ComfyMultiply", value=3)  # factor: the declared default (2) is filled in
    text = b.node("NativeGreet", name="fixture")
    show = b.node("ComfyShowText", text=text.out(0))
    b.node("ComfyShowText", text=b.node("NativeGreet", name="x").out(0))
    workflow = b.workflow()
    result = _run(registry, workflow)
    assert result.ok, result.error
    assert result.ui[show.id] == {"text": ["hello fixture"]}
    unlucky = workflow.set_input(product.id, "factor", 13).set_input(show.id, "text", product.out(0).to_api())
    bad = validate(unlucky, registry)
    assert any("factor 13 is unlucky" in str(e) for e in bad.errors)
