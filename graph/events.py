"""Typed events emitted by the executor.

The executor knows nothing of servers or terminals: it calls ``hooks(event)`` with one of the dataclasses
below, in this order for a run::

    ExecutionStart -> ExecutionCached -> (Executing -> Progress* -> Executed?)* ->
    ExecutionSuccess | ExecutionError | ExecutionInterrupted

Names follow ComfyUI's websocket vocabulary (``type``), so the server maps them one to one. A hook is any
callable taking an event; :class:`HookList` fans one event out to several. Hooks run on the executor's
thread and must be quick (the server's hook only enqueues).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from graph.errors import NodeFailed


@dataclass(frozen=True, slots=True)
class Event:
    type: ClassVar[str] = "event"
    prompt_id: str


@dataclass(frozen=True, slots=True)
class ExecutionStart(Event):
    type: ClassVar[str] = "execution_start"


@dataclass(frozen=True, slots=True)
class ExecutionCached(Event):
    """Nodes whose results came from the cache (they do not run)."""

    type: ClassVar[str] = "execution_cached"
    nodes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Executing(Event):
    """A node is about to run. ``display_node`` is the visible node for expanded ones."""

    type: ClassVar[str] = "executing"
    node: str = ""
    display_node: str = ""
    type_name: str = ""


@dataclass(frozen=True, slots=True)
class Progress(Event):
    """Progress inside a node (a sampler's steps); ``preview`` is an optional image object."""

    type: ClassVar[str] = "progress"
    node: str = ""
    value: float = 0
    max: float = 1
    preview: Any = None


@dataclass(frozen=True, slots=True)
class Executed(Event):
    """A node finished and produced UI data (also sent for cached output nodes, ``cached=True``)."""

    type: ClassVar[str] = "executed"
    node: str = ""
    display_node: str = ""
    output: Mapping[str, Any] | None = None
    cached: bool = False


@dataclass(frozen=True, slots=True)
class NodeFinished(Event):
    """A node finished running (UI data or not); carries its wall time in seconds."""

    type: ClassVar[str] = "node_finished"
    node: str = ""
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class ExecutionBlocked(Event):
    """An output node received an ExecutionBlocker with a message; the run goes on."""

    type: ClassVar[str] = "execution_blocked"
    node: str = ""
    type_name: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class ExecutionSuccess(Event):
    type: ClassVar[str] = "execution_success"


@dataclass(frozen=True, slots=True)
class ExecutionError(Event):
    type: ClassVar[str] = "execution_error"
    error: NodeFailed | None = None
    executed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExecutionInterrupted(Event):
    type: ClassVar[str] = "execution_interrupted"
    node: str | None = None
    type_name: str | None = None
    executed: tuple[str, ...] = ()


Hook = Callable[[Event], None]


@dataclass
class HookList:
    """Calls every hook in order; an exception in a hook is kept and never stops the run."""

    hooks: list[Hook] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        for hook in self.hooks:
            try:
                hook(event)
            except Exception as exc:  # a broken listener must not break the engine
                self.errors.append(exc)


def collect(events: list[Event]) -> Hook:
    """A hook that appends every event to ``events`` (handy in tests and scripts)."""
    return events.append


def event_names(events: Sequence[Event]) -> list[str]:
    return [e.type for e in events]
