"""Executor semantics on toy specs built straight from graph.spec: ordering, caching, lazy inputs, lists,
expansion, blockers, async overlap, interrupts, failures, release of intermediates."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections import Counter
from typing import Any

import pytest

from graph.cache import DiskCache, LastRunCache, LRUCache, NullCache
from graph.context import CancelToken, progress
from graph.events import (
    Executed,
    ExecutionBlocked,
    ExecutionCached,
    ExecutionError,
    ExecutionInterrupted,
    ExecutionStart,
    ExecutionSuccess,
    Executing,
    Progress,
)
from graph.executor import Executor
from graph.spec import ExecutionBlocker, HiddenSpec, InputSpec, NodeOutput, OutputSpec
from graph.workflow import Workflow
from tests.graph.exec_helpers import DictRegistry, spec


class Blob:
    """An object a weakref can watch (to prove intermediates are released)."""

    def __init__(self, n: int) -> None:
        self.n = n


@pytest.fixture
def calls() -> Counter[str]:
    return Counter()


@pytest.fixture
def registry(calls: Counter[str]) -> DictRegistry:
    def counted(name: str, fn: Any) -> Any:
        def wrapper(**kw: Any) -> Any:
            calls[name] += 1
            return fn(**kw)

        return wrapper

    def switch_lazy(cond: bool, on_true: Any = None, on_false: Any = None) -> list[str]:
        return ["on_true" if cond else "on_false"]

    def repeat_add(x: int, times: int) -> NodeOutput:
        graph: dict[str, Any] = {}
        prev: Any = x
        for i in range(times):
            graph[str(i)] = {"class_type": "Add", "inputs": {"a": prev, "b": 1}}
            prev = [str(i), 0]
        from graph.workflow import Link

        return NodeOutput((Link(str(times - 1), 0),), expand=graph)

    async def async_wait(event_name: str, x: int) -> int:
        ev = EVENTS.setdefault(event_name, asyncio.Event())
        await asyncio.wait_for(ev.wait(), timeout=5)
        return x

    async def async_set(event_name: str, x: int) -> int:
        await asyncio.sleep(0.01)
        EVENTS.setdefault(event_name, asyncio.Event()).set()
        return x

    def slow(x: int, steps: int) -> int:
        for i in range(steps):
            progress(i + 1, steps)
        return x

    def fail(x: int) -> int:
        raise ValueError(f"bad value {x}")

    EVENTS: dict[str, asyncio.Event] = {}
    return DictRegistry(
        spec("Const", counted("Const", lambda value: value), {"value": "INT"}, ["INT"]),
        spec("Add", counted("Add", lambda a, b: a + b), {"a": "INT", "b": "INT"}, ["INT"]),
        spec("MakeBlob", counted("MakeBlob", lambda n: Blob(n)), {"n": "INT"}, ["BLOB"]),
        spec("BlobValue", counted("BlobValue", lambda blob: blob.n), {"blob": "BLOB"}, ["INT"]),
        spec("Output", counted("Output", lambda value: NodeOutput((), ui={"value": [value]})), {"value": "*"}, [], is_output=True),
        spec("Fail", counted("Fail", fail), {"x": "INT"}, ["INT"]),
        spec("Slow", counted("Slow", slow), {"x": "INT", "steps": "INT"}, ["INT"]),
        spec(
            "Switch",
            counted("Switch", lambda cond, on_true=None, on_false=None: on_true if cond else on_false),
            {"cond": "BOOLEAN", "on_true": InputSpec("on_true", "*", lazy=True), "on_false": InputSpec("on_false", "*", lazy=True)},
            ["*"],
            lazy_check=switch_lazy,
        ),
        spec("ListOut", counted("ListOut", lambda n: (list(range(n)),)), {"n": "INT"}, [OutputSpec("INT", "INT", is_list=True)]),
        spec("ListSum", counted("ListSum", lambda values: sum(values)), {"values": "INT"}, ["INT"], input_is_list=True),
        spec("RepeatAdd", counted("RepeatAdd", repeat_add), {"x": "INT", "times": "INT"}, ["INT"]),
        spec("AsyncWait", async_wait, {"event_name": "STRING", "x": "INT"}, ["INT"]),
        spec("AsyncSet", async_set, {"event_name": "STRING", "x": "INT"}, ["INT"]),
        spec("Block", lambda x, message: ExecutionBlocker(message or None), {"x": "INT", "message": "STRING"}, ["INT"]),
        spec("Slow2", counted("Slow", slow), {"x": "INT", "steps": "INT"}, ["INT"]),
        spec("Random", counted("Random", lambda seed: seed * 7), {"seed": "INT"}, ["INT"], not_idempotent=True, fingerprint=lambda seed: float("nan")),
        spec("Fail2", fail, {"x": "INT"}, ["INT"]),
        spec("WhoAmI", lambda unique_id, prompt: (unique_id, len(prompt)), {}, ["STRING", "INT"], hidden=(HiddenSpec("unique_id", "UNIQUE_ID"), HiddenSpec("prompt", "PROMPT"))),
    )


def wf(doc: dict[str, Any]) -> Workflow:
    return Workflow.parse(doc)


def chain_doc() -> dict[str, Any]:
    return {
        "1": {"class_type": "Const", "inputs": {"value": 2}},
        "2": {"class_type": "Const", "inputs": {"value": 3}},
        "3": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": ["2", 0]}},
        "4": {"class_type": "Add", "inputs": {"a": ["3", 0], "b": 10}},
        "5": {"class_type": "Output", "inputs": {"value": ["4", 0]}},
    }


def test_runs_in_dependency_order_and_reports_events(registry: DictRegistry) -> None:
    events: list[Any] = []
    result = Executor(registry).run(wf(chain_doc()), prompt_id="p1", hooks=events.append)
    assert result.ok
    assert result.ui == {"5": {"value": [15]}}
    order = result.executed
    assert set(order) == {"1", "2", "3", "4", "5"}
    assert order.index("3") > max(order.index("1"), order.index("2"))
    assert order.index("5") > order.index("4")
    kinds = [type(e) for e in events]
    assert kinds[0] is ExecutionStart and kinds[1] is ExecutionCached and kinds[-1] is ExecutionSuccess
    assert all(e.prompt_id == "p1" for e in events)
    executing = [e.node for e in events if isinstance(e, Executing)]
    assert executing == list(order)
    executed = [e for e in events if isinstance(e, Executed)]
    assert [(e.node, e.output) for e in executed] == [("5", {"value": [15]})]


def test_rerun_identical_executes_nothing(registry: DictRegistry, calls: Counter[str]) -> None:
    ex = Executor(registry)
    ex.run(wf(chain_doc()))
    calls.clear()
    events: list[Any] = []
    result = ex.run(wf(chain_doc()), hooks=events.append)
    assert result.executed == ()
    assert sum(calls.values()) == 0
    assert result.cached == ("5",)  # the output's own entry stops the walk
    assert result.ui == {"5": {"value": [15]}}
    cached_executed = [e for e in events if isinstance(e, Executed)]
    assert cached_executed and cached_executed[0].cached


def test_changing_one_constant_reruns_only_it_and_dependents(registry: DictRegistry) -> None:
    ex = Executor(registry)
    ex.run(wf(chain_doc()))
    doc = chain_doc()
    doc["4"]["inputs"]["b"] = 20
    result = ex.run(wf(doc))
    assert set(result.executed) == {"4", "5"}
    assert result.ui["5"] == {"value": [25]}
    assert "3" in result.cached


def test_cache_keys_ignore_node_ids(registry: DictRegistry) -> None:
    ex = Executor(registry)
    ex.run(wf(chain_doc()))
    renamed = {
        "a": {"class_type": "Const", "inputs": {"value": 2}},
        "b": {"class_type": "Const", "inputs": {"value": 3}},
        "c": {"class_type": "Add", "inputs": {"a": ["a", 0], "b": ["b", 0]}},
        "d": {"class_type": "Add", "inputs": {"a": ["c", 0], "b": 10}},
        "e": {"class_type": "Output", "inputs": {"value": ["d", 0]}},
    }
    result = ex.run(wf(renamed))
    assert result.executed == ()
    assert result.ui == {"e": {"value": [15]}}


def test_identical_subgraphs_in_one_workflow_share_results(registry: DictRegistry, calls: Counter[str]) -> None:
    doc = {
        "1": {"class_type": "Const", "inputs": {"value": 4}},
        "2": {"class_type": "Const", "inputs": {"value": 4}},
        "3": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": ["2", 0]}},
        "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}},
    }
    Executor(registry).run(wf(doc))
    assert calls["Const"] == 1  # the second Const hit the first one's entry


def test_not_idempotent_nodes_stay_apart_and_nan_fingerprint_always_reruns(registry: DictRegistry, calls: Counter[str]) -> None:
    doc = {
        "1": {"class_type": "Random", "inputs": {"seed": 1}},
        "2": {"class_type": "Random", "inputs": {"seed": 1}},
        "3": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": ["2", 0]}},
        "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}},
    }
    ex = Executor(registry)
    ex.run(wf(doc))
    assert calls["Random"] == 2
    result = ex.run(wf(doc))
    assert calls["Random"] == 4
    assert "4" in result.executed  # the keys changed, so everything downstream re-ran


def test_partial_execution_runs_only_the_chosen_closure(registry: DictRegistry, calls: Counter[str]) -> None:
    doc = chain_doc()
    doc["6"] = {"class_type": "Const", "inputs": {"value": 99}}
    doc["7"] = {"class_type": "Output", "inputs": {"value": ["6", 0]}}
    result = Executor(registry).run(wf(doc), targets=["7"])
    assert set(result.executed) == {"6", "7"}
    assert calls["Add"] == 0


def test_lazy_inputs_run_only_the_requested_branch(registry: DictRegistry, calls: Counter[str]) -> None:
    doc = {
        "1": {"class_type": "Const", "inputs": {"value": 1}},
        "2": {"class_type": "Fail", "inputs": {"x": 5}},
        "3": {"class_type": "Switch", "inputs": {"cond": True, "on_true": ["1", 0], "on_false": ["2", 0]}},
        "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}},
    }
    result = Executor(registry).run(wf(doc))
    assert result.ok, result.error
    assert result.ui["4"] == {"value": [1]}
    assert calls["Fail"] == 0
    assert "2" not in result.executed


def test_lazy_input_failure_when_requested(registry: DictRegistry) -> None:
    doc = {
        "1": {"class_type": "Const", "inputs": {"value": 1}},
        "2": {"class_type": "Fail", "inputs": {"x": 5}},
        "3": {"class_type": "Switch", "inputs": {"cond": False, "on_true": ["1", 0], "on_false": ["2", 0]}},
        "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}},
    }
    result = Executor(registry).run(wf(doc))
    assert result.status == "error"
    assert result.error is not None and result.error.node_id == "2"
    assert result.error.exception_type == "ValueError"
    assert result.error.message == "bad value 5"
    assert result.error.inputs == {"x": [5]}
    assert any("bad value 5" in line for line in result.error.traceback)


def test_list_outputs_map_downstream_calls_and_input_is_list_gathers(registry: DictRegistry, calls: Counter[str]) -> None:
    doc = {
        "1": {"class_type": "ListOut", "inputs": {"n": 4}},
        "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": 100}},
        "3": {"class_type": "ListSum", "inputs": {"values": ["2", 0]}},
        "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}},
        "5": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }
    result = Executor(registry).run(wf(doc))
    assert calls["Add"] == 4
    assert result.ui["4"] == {"value": [406]}
    assert result.ui["5"] == {"value": [100, 101, 102, 103]}  # UI lists concatenate across calls
    assert result.outputs["5"] == ()


def test_shorter_lists_repeat_their_last_item(registry: DictRegistry) -> None:
    doc = {
        "1": {"class_type": "ListOut", "inputs": {"n": 3}},
        "2": {"class_type": "ListOut", "inputs": {"n": 2}},
        "3": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": ["2", 0]}},
        "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}},
    }
    result = Executor(registry).run(wf(doc))
    assert result.ui["4"] == {"value": [0, 2, 3]}


def test_expansion_runs_a_subgraph_in_place(registry: DictRegistry, calls: Counter[str]) -> None:
    doc = {
        "1": {"class_type": "Const", "inputs": {"value": 10}},
        "2": {"class_type": "RepeatAdd", "inputs": {"x": ["1", 0], "times": 5}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }
    events: list[Any] = []
    ex = Executor(registry)
    result = ex.run(wf(doc), hooks=events.append)
    assert result.ok, result.error
    assert result.ui["3"] == {"value": [15]}
    assert calls["Add"] == 5
    expanded = [e for e in events if isinstance(e, Executing) and e.node.startswith("2.")]
    assert len(expanded) == 5 and all(e.display_node == "2" for e in expanded)
    calls.clear()
    again = ex.run(wf(doc))
    assert again.executed == () and sum(calls.values()) == 0


def test_blocker_stops_downstream_and_reports_at_output(registry: DictRegistry, calls: Counter[str]) -> None:
    doc = {
        "1": {"class_type": "Block", "inputs": {"x": 1, "message": "blocked on purpose"}},
        "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": 1}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
        "4": {"class_type": "Const", "inputs": {"value": 7}},
        "5": {"class_type": "Output", "inputs": {"value": ["4", 0]}},
    }
    events: list[Any] = []
    result = Executor(registry).run(wf(doc), hooks=events.append)
    assert result.ok
    assert calls["Add"] == 0
    assert "3" not in result.ui and result.ui["5"] == {"value": [7]}
    blocked = [e for e in events if isinstance(e, ExecutionBlocked)]
    assert [(e.node, e.message) for e in blocked] == [("3", "blocked on purpose")]


def test_async_nodes_overlap_within_one_run(registry: DictRegistry) -> None:
    # AsyncWait only finishes once AsyncSet has run: a serial executor would time out.
    doc = {
        "1": {"class_type": "AsyncWait", "inputs": {"event_name": "go", "x": 1}},
        "2": {"class_type": "AsyncSet", "inputs": {"event_name": "go", "x": 2}},
        "3": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": ["2", 0]}},
        "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}},
    }
    result = Executor(registry).run(wf(doc))
    assert result.ok, result.error
    assert result.ui["4"] == {"value": [3]}


def test_interrupt_during_progress_stops_the_run(registry: DictRegistry, calls: Counter[str]) -> None:
    cancel = CancelToken()
    seen: list[Any] = []

    def hook(event: Any) -> None:
        seen.append(event)
        if isinstance(event, Progress) and event.value == 3:
            cancel.cancel()

    doc = {
        "1": {"class_type": "Slow", "inputs": {"x": 1, "steps": 10}},
        "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": 1}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }
    result = Executor(registry).run(wf(doc), cancel=cancel, hooks=hook)
    assert result.status == "interrupted"
    assert result.interrupted_node == "1"
    assert calls["Add"] == 0
    assert [e.value for e in seen if isinstance(e, Progress)] == [1, 2, 3]
    assert isinstance(seen[-1], ExecutionInterrupted) and seen[-1].node == "1"


def test_interrupt_before_a_node(registry: DictRegistry, calls: Counter[str]) -> None:
    cancel = CancelToken()
    cancel.cancel()
    result = Executor(registry).run(wf(chain_doc()), cancel=cancel)
    assert result.status == "interrupted" and result.executed == ()
    assert sum(calls.values()) == 0


def test_failure_reports_node_and_stops(registry: DictRegistry, calls: Counter[str]) -> None:
    doc = {
        "1": {"class_type": "Const", "inputs": {"value": 3}},
        "2": {"class_type": "Fail", "inputs": {"x": ["1", 0]}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }
    events: list[Any] = []
    result = Executor(registry).run(wf(doc), hooks=events.append)
    assert result.status == "error"
    err = result.error
    assert err is not None and (err.node_id, err.type_name, err.inputs) == ("2", "Fail", {"x": [3]})
    assert isinstance(events[-1], ExecutionError) and events[-1].executed == ("1",)
    assert calls["Output"] == 0


def test_a_failed_run_does_not_poison_the_cache(registry: DictRegistry, calls: Counter[str]) -> None:
    ex = Executor(registry)
    doc = {
        "1": {"class_type": "Const", "inputs": {"value": 3}},
        "2": {"class_type": "Fail", "inputs": {"x": ["1", 0]}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }
    ex.run(wf(doc))
    ex.run(wf(doc))
    assert calls["Fail"] == 2 and calls["Const"] == 1


def test_hidden_inputs(registry: DictRegistry) -> None:
    doc = {"7": {"class_type": "WhoAmI", "inputs": {}}, "8": {"class_type": "Output", "inputs": {"value": ["7", 0]}}}
    result = Executor(registry).run(wf(doc))
    assert result.ui["8"] == {"value": ["7"]}


def test_ten_thousand_node_chain_runs_without_recursion_limits(registry: DictRegistry) -> None:
    doc: dict[str, Any] = {"0": {"class_type": "Const", "inputs": {"value": 0}}}
    for i in range(1, 10_000):
        doc[str(i)] = {"class_type": "Add", "inputs": {"a": [str(i - 1), 0], "b": 1}}
    doc["out"] = {"class_type": "Output", "inputs": {"value": ["9999", 0]}}
    ex = Executor(registry)
    result = ex.run(wf(doc))
    assert result.ok and result.ui["out"] == {"value": [9999]}
    assert ex.run(wf(doc)).executed == ()


def test_intermediates_are_released_when_no_consumer_is_left(registry: DictRegistry) -> None:
    refs: list[weakref.ref[Blob]] = []
    registry.add(spec("Watch", lambda blob: (refs.append(weakref.ref(blob)), blob.n)[1], {"blob": "BLOB"}, ["INT"]))
    registry.add(spec("Check", lambda x: (gc.collect(), refs[0]() is None)[1], {"x": "INT"}, ["BOOLEAN"]))
    doc = {
        "1": {"class_type": "MakeBlob", "inputs": {"n": 5}},
        "2": {"class_type": "Watch", "inputs": {"blob": ["1", 0]}},
        "3": {"class_type": "Check", "inputs": {"x": ["2", 0]}},
        "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}},
    }
    released = Executor(registry, cache=NullCache()).run(wf(doc))
    assert released.ui["4"] == {"value": [True]}
    refs.clear()
    kept = Executor(registry, cache=LastRunCache()).run(wf(doc))
    assert kept.ui["4"] == {"value": [False]}  # the cache, not the run, keeps it alive


def test_cache_policies(registry: DictRegistry, calls: Counter[str]) -> None:
    none = Executor(registry, cache=NullCache())
    none.run(wf(chain_doc()))
    none.run(wf(chain_doc()))
    assert calls["Output"] == 2
    calls.clear()
    lru = Executor(registry, cache=LRUCache(100))
    other = {"1": {"class_type": "Const", "inputs": {"value": 42}}, "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}}}
    lru.run(wf(chain_doc()))
    lru.run(wf(other))
    lru.run(wf(chain_doc()))  # LRU keeps both; last-run would have dropped the first
    assert calls["Output"] == 2
    calls.clear()
    last = Executor(registry, cache=LastRunCache())
    last.run(wf(chain_doc()))
    last.run(wf(other))
    last.run(wf(chain_doc()))
    assert calls["Output"] == 3


def test_disk_cache_survives_a_new_executor(registry: DictRegistry, calls: Counter[str], tmp_path: Any) -> None:
    Executor(registry, cache=DiskCache(LastRunCache(), tmp_path)).run(wf(chain_doc()))
    assert calls["Add"] == 2
    calls.clear()
    fresh = Executor(registry, cache=DiskCache(LastRunCache(), tmp_path))
    result = fresh.run(wf(chain_doc()))
    assert calls["Add"] == 0 and calls["Const"] == 0
    assert result.executed == ("5",)  # output nodes are never persisted: they re-run from cached inputs
    assert result.ui["5"] == {"value": [15]}


def test_async_failure_is_reported(registry: DictRegistry) -> None:
    async def boom(x: int) -> int:
        await asyncio.sleep(0)
        raise RuntimeError("async boom")

    registry.add(spec("Boom", boom, {"x": "INT"}, ["INT"]))
    doc = {"1": {"class_type": "Boom", "inputs": {"x": 1}}, "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}}}
    result = Executor(registry).run(wf(doc))
    assert result.status == "error" and result.error is not None
    assert (result.error.node_id, result.error.exception_type, result.error.message) == ("1", "RuntimeError", "async boom")


def test_runtime_services_reach_nodes_fingerprints_and_validation(registry: DictRegistry) -> None:
    from graph.context import runtime
    from graph.engine import Engine

    seen: list[Any] = []
    registry.add(spec("Svc", lambda x: runtime()["name"] + str(x), {"x": "INT"}, ["STRING"], fingerprint=lambda x: seen.append(runtime()) or x))
    doc = {"1": {"class_type": "Svc", "inputs": {"x": 1}}, "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}}}
    services = {"name": "svc"}
    engine = Engine(registry, runtime=services)
    assert engine.run(doc).ui["2"] == {"value": ["svc1"]}
    assert seen == [services]
    assert runtime() is None
