"""The run-time scheduler: a small incremental topological sorter with graphlib's verbs.

State
-----
Every node handed to :meth:`Scheduler.add` is in exactly one of these sets:

* ``waiting``: it has unfinished dependencies (``_blockers[node]`` counts them);
* ``ready``: every dependency is done; it sits on one of two stacks until picked;
* ``running``: picked by :meth:`pop_ready` and not yet reported back;
* ``done``: reported with :meth:`done`.

A running node may go back to ``waiting`` with :meth:`defer` when it discovers new dependencies at run
time: a lazy input it now needs, or the nodes of a subgraph it expanded into. Nodes may be added while the
run is in progress (expansion adds its subgraph).

Task selection policy
---------------------
Output nodes first (a user sees results as soon as they can exist), then last-in-first-out among the other
ready nodes. LIFO walks the graph depth first towards the outputs, which keeps the number of live
intermediate values small, so the executor can release them early (see ``graph/executor.py``).

If nothing is ready, nothing is running and some nodes still wait, the remaining graph has a cycle:
:meth:`find_cycle` names it. Validation rejects static cycles before a run; a cycle can only appear here
through node expansion.
"""

from __future__ import annotations

from collections.abc import Iterable


class CycleError(ValueError):
    """The graph still has waiting nodes but none can become ready. ``cycle`` lists the node ids."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__("dependency cycle: " + " -> ".join(cycle + cycle[:1]))


class Scheduler:
    """Hands out nodes whose dependencies are done, outputs first, then LIFO."""

    __slots__ = ("_blockers", "_dependents", "_ready_outputs", "_ready", "_running", "_done", "_outputs", "_waiting_on")

    def __init__(self) -> None:
        self._blockers: dict[str, int] = {}
        self._waiting_on: dict[str, set[str]] = {}
        self._dependents: dict[str, list[str]] = {}
        self._ready_outputs: list[str] = []
        self._ready: list[str] = []
        self._running: set[str] = set()
        self._done: set[str] = set()
        self._outputs: set[str] = set()

    # -- building -------------------------------------------------------------------------------
    def add(self, node_id: str, deps: Iterable[str] = (), *, is_output: bool = False) -> None:
        """Add a node that must wait for ``deps`` (already-done deps are ignored).

        Raises:
            ValueError: the node was added before.
        """
        if node_id in self._blockers or node_id in self._done:
            raise ValueError(f"node {node_id!r} was already added to the scheduler")
        if is_output:
            self._outputs.add(node_id)
        self._blockers[node_id] = 0
        self._wait(node_id, deps)

    def defer(self, node_id: str, deps: Iterable[str]) -> None:
        """Put a running node back to wait for ``deps`` (lazy inputs, expansion results).

        Raises:
            ValueError: the node is not running (call it only for a node you got from pop_ready()).
        """
        if node_id not in self._running:
            raise ValueError(f"defer({node_id!r}): only a running node can be deferred; pop it with pop_ready() first")
        self._running.discard(node_id)
        self._wait(node_id, deps)

    def _wait(self, node_id: str, deps: Iterable[str]) -> None:
        waiting = self._waiting_on.setdefault(node_id, set())
        for dep in deps:
            if dep in self._done or dep in waiting:
                continue
            if dep not in self._blockers:
                raise ValueError(f"node {node_id!r} depends on {dep!r}, which was never added; add() it first")
            waiting.add(dep)
            self._blockers[node_id] += 1
            self._dependents.setdefault(dep, []).append(node_id)
        if self._blockers[node_id] == 0:
            self._make_ready(node_id)

    def _make_ready(self, node_id: str) -> None:
        self._waiting_on.pop(node_id, None)
        (self._ready_outputs if node_id in self._outputs else self._ready).append(node_id)

    # -- running --------------------------------------------------------------------------------
    def pop_ready(self) -> str | None:
        """The next node to run (now ``running``), or None when none is ready."""
        stack = self._ready_outputs or self._ready
        if not stack:
            return None
        node_id = stack.pop()
        self._running.add(node_id)
        return node_id

    def done(self, node_id: str) -> None:
        """Report a running node finished; dependents whose last blocker it was become ready.

        Raises:
            ValueError: the node is not running.
        """
        if node_id not in self._running:
            raise ValueError(f"done({node_id!r}): the node is not running; call pop_ready() first")
        self._running.discard(node_id)
        self._done.add(node_id)
        del self._blockers[node_id]
        for dependent in self._dependents.pop(node_id, ()):
            waiting = self._waiting_on.get(dependent)
            if waiting is None or node_id not in waiting:
                continue
            waiting.discard(node_id)
            self._blockers[dependent] -= 1
            if self._blockers[dependent] == 0:
                self._make_ready(dependent)

    # -- inspection -----------------------------------------------------------------------------
    def is_active(self) -> bool:
        """True while some node is waiting, ready or running."""
        return bool(self._blockers)

    def is_done(self, node_id: str) -> bool:
        return node_id in self._done

    def knows(self, node_id: str) -> bool:
        """Whether the node was added (in any state)."""
        return node_id in self._blockers or node_id in self._done

    @property
    def running(self) -> frozenset[str]:
        return frozenset(self._running)

    @property
    def waiting(self) -> dict[str, frozenset[str]]:
        """Each waiting node with the dependencies it still waits for."""
        return {n: frozenset(d) for n, d in self._waiting_on.items() if d}

    @property
    def ready_count(self) -> int:
        return len(self._ready_outputs) + len(self._ready)

    def find_cycle(self) -> list[str]:
        """A cycle among waiting nodes (each waits for the next), or [] if there is none."""
        waits = {n: sorted(d) for n, d in self._waiting_on.items() if d}
        for start in sorted(waits):
            path: list[str] = []
            index: dict[str, int] = {}
            node: str | None = start
            while node is not None and node in waits and node not in index:
                index[node] = len(path)
                path.append(node)
                node = waits[node][0]
            if node is not None and node in index:
                return path[index[node]:]
        return []
