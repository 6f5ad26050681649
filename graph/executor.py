"""The executor: runs the closure of a workflow's output nodes, with caching, lazy inputs, lists,
expansion, blockers, async nodes and cooperative interrupts.

The path of a run
-----------------
1. **Keys.** Every node reachable from the roots (the output nodes, or a chosen subset) gets a content key
   (``graph/cache.py``), computed in dependency order without recursion, so a 10,000-node chain is fine.
2. **Plan.** From the roots, walk the non-lazy links. A node whose key is in the cache contributes its
   cached values and stops the walk there (its ancestors are not needed); every other node goes to the
   :class:`~graph.scheduler.Scheduler` waiting for its uncached inputs.
3. **Run.** Pop ready nodes (outputs first, then LIFO) and run each one:

   * *lazy inputs*: a node with a lazy check is asked which lazy inputs it needs given what is available;
     unevaluated ones are planned and the node is deferred until they are done, then asked again;
   * *lists*: every output slot holds a list of items. A node is called once per index of its longest
     input list (shorter lists repeat their last item), or once with whole lists if it takes lists;
     list outputs are concatenated across calls;
   * *blockers*: a call that receives an :class:`~graph.spec.ExecutionBlocker` does not run; all its outputs
     become that blocker, and an output node reached by a blocker with a message emits ``ExecutionBlocked``;
   * *expansion*: a node that returns a subgraph is deferred while the subgraph's nodes run in its place;
     its outputs then resolve from the links it returned;
   * *async nodes* start as tasks on the run's private event loop and are parked; other ready nodes run
     meanwhile and the loop is driven whenever nothing else is ready, so async nodes overlap.
4. **Release.** Each node's value holds a count of the links to it from nodes of the run's graph (counted
   when keys are computed, so consumers reached later through lazy inputs are included). A consumer that
   finishes, or that is served from the cache and so reads nothing, gives its counts back; at zero the run
   forgets the value (the cache decides separately what outlives the run). Values feeding a lazy input that
   is never requested stay until the run ends. Root values are kept for the :class:`RunResult`.

The cancel token is checked before every node and at every progress report (``graph.context.progress``).
The executor reports what happens through typed events (``graph/events.py``) and returns a
:class:`RunResult`; it knows nothing of servers or terminals.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from graph import context as ctxmod
from graph.cache import Cache, CacheEntry, LastRunCache, canonical, node_key
from graph.calls import Blocked, await_, completed, find_blocker, merge, merge_expanded, merge_ui, normalise, short, split_calls
from graph.context import CancelToken, NodeContext
from graph.dynamic import DynamicGraph
from graph.errors import Interrupted, NodeFailed
from graph.events import (
    Event,
    Executed,
    ExecutionBlocked,
    ExecutionCached,
    ExecutionError,
    ExecutionInterrupted,
    ExecutionStart,
    ExecutionSuccess,
    Executing,
    NodeFinished,
    Progress,
)
from graph.scheduler import CycleError, Scheduler
from graph.spec import NodeOutput, NodeSpec, Registry
from graph.workflow import Link, Workflow, constant_value


@dataclass(frozen=True)
class RunResult:
    """What a run did.

    Args:
        status: ``success``, ``error`` or ``interrupted``.
        ui: UI data per node (output nodes' ``executed`` payloads, cached ones included).
        outputs: the output values of the roots (one list of items per slot).
        executed: nodes that ran, in order. cached: nodes served from the cache.
        error: the failure, when status is ``error``. interrupted_node: where a cancel landed.
        timings: seconds per executed node.
    """

    prompt_id: str
    status: Literal["success", "error", "interrupted"]
    ui: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    outputs: Mapping[str, tuple[list[Any], ...]] = field(default_factory=dict)
    executed: tuple[str, ...] = ()
    cached: tuple[str, ...] = ()
    error: NodeFailed | None = None
    interrupted_node: str | None = None
    timings: Mapping[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def value(self, node_id: str, slot: int = 0) -> Any:
        """The single item in output ``slot`` of root ``node_id`` (lists: use ``outputs``)."""
        items = self.outputs[node_id][slot]
        if len(items) != 1:
            raise ValueError(f"node {node_id} slot {slot} holds {len(items)} items; read result.outputs instead")
        return items[0]


class Executor:
    """Runs validated workflows against a registry, sharing a cache and node instances across runs.

    Args:
        registry: where node specs come from.
        cache: the result cache policy (default: results of the last run, ComfyUI's classic).
        hooks: called with every :class:`~graph.events.Event` of every run.
        runtime: services handed to nodes through their context (folders, model manager); opaque here.
    """

    def __init__(self, registry: Registry, cache: Cache | None = None, hooks: Callable[[Event], None] | None = None, runtime: Any = None) -> None:
        self.registry = registry
        self.runtime = runtime
        self.cache: Cache = cache if cache is not None else LastRunCache()
        self.hooks = hooks
        self._objects: dict[tuple[str, str], Any] = {}

    def run(
        self,
        workflow: Workflow,
        *,
        prompt_id: str | None = None,
        targets: Sequence[str] | None = None,
        extra_data: Mapping[str, Any] | None = None,
        cancel: CancelToken | None = None,
        hooks: Callable[[Event], None] | None = None,
    ) -> RunResult:
        """Run ``workflow`` (already validated) from ``targets`` (default: every output node)."""
        emit = _combine(self.hooks, hooks)
        run = _Run(self, workflow, prompt_id or uuid.uuid4().hex, targets, dict(extra_data or {}), cancel or CancelToken(), emit)
        with ctxmod.using_runtime(self.runtime):  # fingerprints and choice providers see the runtime too
            return run.execute()

    def instance(self, node_id: str, spec: NodeSpec) -> Any:
        key = (node_id, spec.type_name)
        obj = self._objects.get(key)
        if obj is None:
            obj = self._objects[key] = spec.create()
        return obj

    def forget_instances(self) -> None:
        """Drop node instances (they may hold state such as loaded models)."""
        self._objects.clear()


def _combine(*hooks: Callable[[Event], None] | None) -> Callable[[Event], None] | None:
    active = [h for h in hooks if h is not None]
    if not active:
        return None
    if len(active) == 1:
        return active[0]

    def fan_out(event: Event) -> None:
        for h in active:
            h(event)

    return fan_out


class _Run:
    """The state of one run (see the module docstring for the policy)."""

    def __init__(self, ex: Executor, workflow: Workflow, prompt_id: str, targets: Sequence[str] | None, extra: dict[str, Any], cancel: CancelToken, emit: Callable[[Event], None] | None) -> None:
        self.ex = ex
        self.graph = DynamicGraph(workflow)
        self.prompt_id = prompt_id
        self.extra = extra
        self.cancel = cancel
        self.emit = emit
        self.specs: dict[str, NodeSpec] = {}
        self.keys: dict[str, str] = {}
        self.values: dict[str, tuple[list[Any], ...]] = {}
        self.refcount: dict[str, int] = {}
        self.consumed: dict[str, list[str]] = {}
        self.planned: set[str] = set()
        self.scheduler = Scheduler()
        self.executed: list[str] = []
        self.cached: list[str] = []
        self.ui: dict[str, Mapping[str, Any]] = {}
        self.timings: dict[str, float] = {}
        self.expansions: dict[str, list[Any]] = {}
        self.by_key: dict[str, str] = {}
        self.aliases: dict[str, str] = {}
        self.pending: dict[asyncio.Future[Any], tuple[str, float]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._prompt_api: dict[str, Any] | None = None
        self._targets = targets
        self.roots: list[str] = []
        self.keep: set[str] = set()

    # -- the run ------------------------------------------------------------------------------------
    def execute(self) -> RunResult:
        self._emit(ExecutionStart(self.prompt_id))
        current: str | None = None
        try:
            targets = self._targets
            if targets is None:
                targets = [nid for nid in self.graph if self._spec(nid).is_output]
            self.roots = list(dict.fromkeys(str(t) for t in targets))
            self.keep = set(self.roots)
            self._compute_keys(self.roots)
            self.ex.cache.begin_run(set(self.keys.values()))
            self._plan(self.roots)
            self._emit(ExecutionCached(self.prompt_id, tuple(self.cached)))
            self._announce_cached_outputs()
            while self.scheduler.is_active():
                current = None
                node_id = self.scheduler.pop_ready()
                if node_id is None:
                    current = self._wait_async()
                    continue
                current = node_id
                self.cancel.check()
                self._step(node_id)
                if self.pending:
                    self._tick()
        except Interrupted:
            self._close_loop()
            self._emit(ExecutionInterrupted(self.prompt_id, current, self._type_of(current), tuple(self.executed)))
            return self._result("interrupted", interrupted_node=current)
        except _NodeError as failure:
            self._close_loop()
            self._emit(ExecutionError(self.prompt_id, failure.failed, tuple(self.executed)))
            return self._result("error", error=failure.failed)
        finally:
            self.ex.cache.end_run()
        self._close_loop()
        self._emit(ExecutionSuccess(self.prompt_id))
        return self._result("success")

    def _result(self, status: Literal["success", "error", "interrupted"], **extra: Any) -> RunResult:
        outputs = {nid: self.values[nid] for nid in self.roots if nid in self.values}
        return RunResult(self.prompt_id, status, dict(self.ui), outputs, tuple(self.executed), tuple(self.cached), timings=dict(self.timings), **extra)

    def _emit(self, event: Event) -> None:
        if self.emit is not None:
            self.emit(event)

    def _spec(self, node_id: str) -> NodeSpec:
        spec = self.specs.get(node_id)
        if spec is None:
            type_name = self.graph[node_id].class_type
            spec = self.ex.registry.spec(type_name) if type_name else None
            if spec is None:
                raise _NodeError.plain(node_id, type_name or "?", "graph.UnknownNodeType", f"node {node_id}: unknown node type {type_name!r}")
            self.specs[node_id] = spec
        return spec

    def _type_of(self, node_id: str | None) -> str | None:
        return self.graph[node_id].class_type if node_id is not None and node_id in self.graph else None

    # -- keys -----------------------------------------------------------------------------------------
    def _compute_keys(self, roots: Sequence[str]) -> None:
        """Give every node reachable from ``roots`` a content key, parents before children."""
        graph, keys = self.graph, self.keys
        stack: list[tuple[str, bool]] = [(r, False) for r in reversed(roots) if r not in keys]
        visiting: set[str] = set()
        while stack:
            node_id, ready = stack.pop()
            if ready:
                keys[node_id] = self._key(node_id)
                continue
            if node_id in keys or node_id in visiting:
                continue
            if node_id not in graph:
                raise _NodeError.plain(node_id, "?", "graph.MissingNode", f"a link points at node {node_id!r}, which is not in the workflow")
            visiting.add(node_id)
            stack.append((node_id, True))
            sources = [link.node_id for _, link in graph[node_id].links()]
            self.consumed[node_id] = sources
            for src in sources:
                self.refcount[src] = self.refcount.get(src, 0) + 1
                if src not in keys:
                    stack.append((src, False))

    def _key(self, node_id: str) -> str:
        node, spec = self.graph[node_id], self._spec(node_id)
        parts: list[str] = []
        for name in sorted(node.inputs):
            value = node.inputs[name]
            if isinstance(value, Link):
                upstream = self.keys.get(value.node_id)
                if upstream is None:
                    raise _NodeError.cycle(self, [node_id, value.node_id])
                parts.append(f"{name}=@{upstream}:{value.output}")
            else:
                parts.append(f"{name}={canonical(constant_value(value))}")
        if spec.fingerprint is not None:
            parts.append("fp=" + canonical(self._fingerprint(node_id, spec)))
        if spec.not_idempotent:
            parts.append("id=" + node_id)
        return node_key(spec.type_name, spec.version, parts)

    def _fingerprint(self, node_id: str, spec: NodeSpec) -> Any:
        consts = {n: constant_value(v) for n, v in self.graph[node_id].inputs.items() if not isinstance(v, Link)}
        try:
            return spec.fingerprint(**consts)  # type: ignore[misc]
        except Exception:
            return float("nan")  # a fingerprint that fails means "always re-run"

    # -- planning ---------------------------------------------------------------------------------------
    def _plan(self, roots: Sequence[str]) -> None:
        """Add the uncached closure of ``roots`` (over non-lazy links) to the scheduler."""
        order: list[str] = []
        stack: list[tuple[str, bool]] = [(r, False) for r in reversed(roots)]
        while stack:
            node_id, finished = stack.pop()
            if finished:
                order.append(node_id)
                continue
            if node_id in self.planned:
                continue
            self.planned.add(node_id)
            entry = self.ex.cache.get(self.keys[node_id])
            if entry is not None:
                self.values[node_id] = entry.outputs
                self.cached.append(node_id)
                if entry.ui is not None:
                    self.ui[node_id] = entry.ui
                self._release(node_id)  # a cached node reads none of its inputs
                continue
            stack.append((node_id, True))
            twin = self.by_key.setdefault(self.keys[node_id], node_id)
            if twin != node_id:  # an identical node is already planned: wait for it and share its result
                self.aliases[node_id] = twin
                self._release(node_id)
                self.consumed[node_id] = [twin]
                self.refcount[twin] = self.refcount.get(twin, 0) + 1
                continue
            stack.extend((dep, False) for dep in self._strong_deps(node_id) if dep not in self.planned)
        for node_id in order:
            deps = [d for d in self._strong_deps(node_id) if d not in self.values]
            for dep in deps:
                if not self.scheduler.knows(dep):
                    raise _NodeError.cycle(self, [node_id, dep])
            self.scheduler.add(node_id, deps, is_output=self._spec(node_id).is_output)

    def _strong_deps(self, node_id: str) -> list[str]:
        twin = self.aliases.get(node_id)
        if twin is not None:
            return [twin]
        spec = self._spec(node_id)
        deps = []
        for name, link in self.graph[node_id].links():
            inp = spec.input(name)
            if inp is None:
                if spec.accepts_extra:
                    deps.append(link.node_id)
            elif not inp.lazy and not inp.raw_link:
                deps.append(link.node_id)
        return deps

    def _announce_cached_outputs(self) -> None:
        for node_id in self.cached:
            if node_id in self.ui and self._spec(node_id).is_output:
                self._emit(Executed(self.prompt_id, node_id, self.graph.display_id(node_id), self.ui[node_id], cached=True))

    # -- one node ---------------------------------------------------------------------------------------
    def _step(self, node_id: str) -> None:
        if node_id in self.expansions:
            self._resolve_expansion(node_id)
            return
        if node_id in self.aliases:
            self._share_twin(node_id)
            return
        spec = self._spec(node_id)
        lists = self._gather(node_id, spec)
        if spec.has_lazy_check and self._defer_for_lazy(node_id, spec, lists):
            return
        self._emit(Executing(self.prompt_id, node_id, self.graph.display_id(node_id), spec.type_name))
        calls = split_calls(spec, lists)
        start = time.perf_counter()
        instance = self.ex.instance(node_id, spec)
        try:
            if spec.is_async:
                self._start_async(node_id, spec, instance, calls, start)
                return
            results = [self._call(node_id, spec, instance, i, kw) for i, kw in enumerate(calls)]
        except (Interrupted, _NodeError):
            raise
        except Exception as exc:
            raise _NodeError.from_exception(self, node_id, exc, lists) from exc
        self._finish(node_id, spec, results, start, lists)

    def _share_twin(self, node_id: str) -> None:
        """Serve a node from the identical node that ran earlier in this run."""
        twin = self.aliases[node_id]
        self.values[node_id] = self.values[twin]
        self.cached.append(node_id)
        ui = self.ui.get(twin)
        if ui is not None:
            self.ui[node_id] = ui
            self._emit(Executed(self.prompt_id, node_id, self.graph.display_id(node_id), ui, cached=True))
        self.scheduler.done(node_id)
        self._release(node_id)

    def _release(self, node_id: str) -> None:
        for src in self.consumed.pop(node_id, ()):
            left = self.refcount[src] - 1
            self.refcount[src] = left
            if left == 0 and src not in self.keep:
                self.values.pop(src, None)

    def _gather(self, node_id: str, spec: NodeSpec) -> dict[str, list[Any]]:
        """Each input as a list of items; unevaluated lazy links are ``[None]``."""
        lists: dict[str, list[Any]] = {}
        for name, value in self.graph[node_id].inputs.items():
            inp = spec.input(name)
            if isinstance(value, Link):
                if inp is None and not spec.accepts_extra:
                    continue
                if inp is not None and inp.raw_link:
                    lists[name] = [value.to_api()]
                    continue
                produced = self.values.get(value.node_id)
                lists[name] = [None] if produced is None else produced[value.output]
            elif inp is not None:
                lists[name] = [constant_value(value)]
        for hidden in spec.hidden:
            lists[hidden.name] = [self._hidden(node_id, hidden.kind)]
        return lists

    def _hidden(self, node_id: str, kind: str) -> Any:
        if kind == "PROMPT":
            if self._prompt_api is None:
                self._prompt_api = self.graph.original.to_api()
            return self._prompt_api
        if kind == "UNIQUE_ID":
            return node_id
        if kind == "DYNPROMPT":
            return self.graph
        if kind == "EXTRA_PNGINFO":
            return self.extra.get("extra_pnginfo")
        return self.extra.get(kind.lower())

    def _defer_for_lazy(self, node_id: str, spec: NodeSpec, lists: dict[str, list[Any]]) -> bool:
        """Ask the node which lazy inputs it needs; plan and wait for the unevaluated ones."""
        instance = self.ex.instance(node_id, spec)
        try:
            wanted: set[str] = set()
            for i, kw in enumerate(split_calls(spec, lists)):
                token = ctxmod.set_current(self._context(node_id, spec, i))
                try:
                    wanted.update(instance.check_lazy(**kw) or ())
                finally:
                    ctxmod.reset_current(token)
        except (Interrupted, _NodeError):
            raise
        except Exception as exc:
            raise _NodeError.from_exception(self, node_id, exc, lists) from exc
        node = self.graph[node_id]
        needed = []
        for name in sorted(wanted):
            value = node.inputs.get(name)
            if isinstance(value, Link) and value.node_id not in self.values:
                needed.append(value.node_id)
        if not needed:
            return False
        self._plan(needed)
        self.scheduler.defer(node_id, [n for n in needed if n not in self.values])
        return True

    def _context(self, node_id: str, spec: NodeSpec, index: int) -> NodeContext:
        def report(value: float, total: float, preview: Any) -> None:
            self._emit(Progress(self.prompt_id, node_id, value, total, preview))

        return NodeContext(self.prompt_id, node_id, self.graph.display_id(node_id), spec.type_name, index, self.cancel, report, self.extra, self.ex.runtime)

    def _call(self, node_id: str, spec: NodeSpec, instance: Any, index: int, kwargs: dict[str, Any]) -> Any:
        blocker = find_blocker(kwargs, spec.input_is_list)
        if blocker is not None:
            return Blocked(blocker)
        token = ctxmod.set_current(self._context(node_id, spec, index))
        try:
            return instance.run(**kwargs)
        finally:
            ctxmod.reset_current(token)

    # -- async ------------------------------------------------------------------------------------------
    def _start_async(self, node_id: str, spec: NodeSpec, instance: Any, calls: list[dict[str, Any]], start: float) -> None:
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        loop = self.loop
        tasks: list[asyncio.Future[Any]] = []
        for i, kw in enumerate(calls):
            blocker = find_blocker(kw, spec.input_is_list)
            if blocker is not None:
                done: asyncio.Future[Any] = loop.create_future()
                done.set_result(Blocked(blocker))
                tasks.append(done)
                continue
            ctx = contextvars.copy_context()
            ctx.run(ctxmod.set_current, self._context(node_id, spec, i))
            awaitable = ctx.run(lambda kw=kw: instance.run(**kw))
            tasks.append(loop.create_task(await_(awaitable), context=ctx))
        gathered = asyncio.gather(*tasks) if tasks else completed(loop, [])
        self.pending[gathered] = (node_id, start)

    def _tick(self) -> None:
        """Let started async tasks make progress, then collect the ones that finished."""
        assert self.loop is not None
        self.loop.run_until_complete(asyncio.sleep(0))
        self._collect_async()

    def _wait_async(self) -> str | None:
        """Nothing is ready: wait for an async node, or report the cycle that blocks the rest."""
        if not self.pending:
            cycle = self.scheduler.find_cycle()
            raise _NodeError.cycle(self, cycle or sorted(self.scheduler.waiting))
        assert self.loop is not None
        self.loop.run_until_complete(asyncio.wait(list(self.pending), return_when=asyncio.FIRST_COMPLETED))
        return self._collect_async()

    def _collect_async(self) -> str | None:
        last = None
        for fut in [f for f in self.pending if f.done()]:
            node_id, start = self.pending.pop(fut)
            last = node_id
            exc = fut.exception()
            if isinstance(exc, Interrupted):
                raise exc
            if exc is not None:
                spec = self._spec(node_id)
                raise _NodeError.from_exception(self, node_id, exc, self._gather(node_id, spec)) from exc
            self._finish(node_id, self._spec(node_id), list(fut.result()), start, None)
        return last

    def _close_loop(self) -> None:
        if self.loop is None:
            return
        for fut in self.pending:
            fut.cancel()
        if self.pending:
            self.loop.run_until_complete(asyncio.gather(*self.pending, return_exceptions=True))
        self.pending.clear()
        self.loop.close()
        self.loop = None

    # -- results ----------------------------------------------------------------------------------------
    def _finish(self, node_id: str, spec: NodeSpec, results: list[Any], start: float, lists: dict[str, list[Any]] | None) -> None:
        try:
            outs = [normalise(r, spec) for r in results]
        except Exception as exc:
            raise _NodeError.from_exception(self, node_id, exc, lists or {}) from exc
        if any(o.expand for o in outs):
            self._expand(node_id, outs)
            return
        self._report_blocked(node_id, spec, results)
        self._complete(node_id, spec, merge(spec, outs), merge_ui(outs), time.perf_counter() - start)

    def _report_blocked(self, node_id: str, spec: NodeSpec, results: list[Any]) -> None:
        if not spec.is_output:
            return
        for r in results:
            if isinstance(r, Blocked) and r.blocker.message:
                self._emit(ExecutionBlocked(self.prompt_id, node_id, spec.type_name, r.blocker.message))

    def _complete(self, node_id: str, spec: NodeSpec, outputs: tuple[list[Any], ...], ui: Mapping[str, Any] | None, seconds: float) -> None:
        self.values[node_id] = outputs
        self.ex.cache.put(self.keys[node_id], CacheEntry(outputs, ui), persist=not spec.is_output and not spec.not_idempotent)
        self.executed.append(node_id)
        self.timings[node_id] = seconds
        if ui is not None:
            self.ui[node_id] = ui
            self._emit(Executed(self.prompt_id, node_id, self.graph.display_id(node_id), ui))
        self._emit(NodeFinished(self.prompt_id, node_id, seconds))
        self.scheduler.done(node_id)
        self._release(node_id)

    def _expand(self, node_id: str, outs: list[NodeOutput]) -> None:
        """Add each call's subgraph to the run and wait for the nodes its results link to."""
        resolved: list[Any] = []
        new_roots: list[str] = []
        try:
            for i, out in enumerate(outs):
                if not out.expand:
                    resolved.append(out)
                    continue
                new_ids, values = self.graph.add_expansion(node_id, i, out.expand, out.values)
                resolved.append(NodeOutput(values, out.ui))
                new_roots += [v.node_id for v in values if isinstance(v, Link)]
                new_roots += [n for n in new_ids if self._spec(n).is_output]
        except ValueError as exc:
            raise _NodeError.from_exception(self, node_id, exc, {}) from exc
        self.expansions[node_id] = resolved
        self._compute_keys(new_roots)
        self._plan(new_roots)
        links = [v.node_id for o in resolved for v in o.values if isinstance(v, Link)]
        self.consumed[node_id] = self.consumed.get(node_id, []) + links
        for src in links:
            self.refcount[src] = self.refcount.get(src, 0) + 1
        self.scheduler.defer(node_id, [n for n in dict.fromkeys(links) if n not in self.values])

    def _resolve_expansion(self, node_id: str) -> None:
        spec = self._spec(node_id)
        outs = self.expansions.pop(node_id)
        concrete = []
        for out in outs:
            values = tuple(self.values[v.node_id][v.output] if isinstance(v, Link) else v for v in out.values)
            concrete.append((out, values))
        outputs = merge_expanded(spec, concrete)
        self._complete(node_id, spec, outputs, merge_ui([o for o, _ in concrete]), 0.0)


class _NodeError(Exception):
    """Carries a NodeFailed value out of the run loop."""

    def __init__(self, failed: NodeFailed) -> None:
        super().__init__(str(failed))
        self.failed = failed

    @classmethod
    def plain(cls, node_id: str, type_name: str, exc_type: str, message: str) -> _NodeError:
        return cls(NodeFailed(node_id, type_name, exc_type, message))

    @classmethod
    def cycle(cls, run: _Run, cycle: list[str]) -> _NodeError:
        err = CycleError(cycle)
        first = cycle[0] if cycle else "?"
        return cls(NodeFailed(first, run._type_of(first) or "?", "graph.DependencyCycleError", str(err), display_node_id=first))

    @classmethod
    def from_exception(cls, run: _Run, node_id: str, exc: BaseException, lists: Mapping[str, list[Any]]) -> _NodeError:
        kind = type(exc)
        qualified = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        return cls(
            NodeFailed(
                node_id=node_id,
                type_name=run._type_of(node_id) or "?",
                exception_type=qualified,
                message=str(exc),
                traceback=tuple(traceback.format_exception(exc)),
                inputs={name: [short(v) for v in items[:8]] for name, items in lists.items()},
                display_node_id=run.graph.display_id(node_id),
            )
        )
