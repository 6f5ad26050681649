"""The running node's context, for code deep inside a node (samplers, loaders).

The executor sets a :class:`NodeContext` in a context variable around every node call (async nodes get it
through their task's copied context). Node code calls :func:`progress` to report steps and send previews,
and :func:`check_interrupt` in long loops; both raise :class:`~graph.errors.Interrupted` once the run is
cancelled, which is how a cancel reaches the middle of a sampler.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from graph.errors import Interrupted


class CancelToken:
    """A thread-safe cancel flag shared by a run and whoever may stop it."""

    __slots__ = ("_event", "reason")

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: str | None = None

    def cancel(self, reason: str = "interrupted") -> None:
        self.reason = reason
        self._event.set()

    def reset(self) -> None:
        self.reason = None
        self._event.clear()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`Interrupted` if cancelled."""
        if self._event.is_set():
            raise Interrupted(self.reason or "interrupted")


@dataclass(frozen=True, slots=True)
class NodeContext:
    """Where the current call is: the prompt, the node, the list index, and how to report."""

    prompt_id: str
    node_id: str
    display_node_id: str
    type_name: str
    list_index: int
    cancel: CancelToken
    report: Callable[[float, float, Any], None]
    #: Per-run settings for nodes (e.g. ``preview_method``), from the job's extra data.
    extra: dict[str, Any]
    #: The application's services for nodes (folders, model manager), opaque to the engine.
    runtime: Any = None


_current: ContextVar[NodeContext | None] = ContextVar("latentloom_node_context", default=None)


def current() -> NodeContext | None:
    """The context of the node being run, or None outside a run."""
    return _current.get()


def progress(value: float, total: float, preview: Any = None) -> None:
    """Report progress ``value`` of ``total`` for the current node (and an optional preview image).

    Raises:
        Interrupted: the run was cancelled.
    """
    ctx = _current.get()
    if ctx is None:
        return
    ctx.cancel.check()
    ctx.report(value, total, preview)


def check_interrupt() -> None:
    """Raise :class:`Interrupted` if the current run was cancelled; a no-op outside a run."""
    ctx = _current.get()
    if ctx is not None:
        ctx.cancel.check()


_ambient_runtime: ContextVar[Any] = ContextVar("latentloom_runtime", default=None)


def runtime() -> Any:
    """The application's runtime services: the running node's, else the ones set by :func:`using_runtime`.

    Node code (and choice providers such as "list the checkpoints on disk", called during validation and
    /object_info) reach folders and models this way instead of through globals. None when nothing is set.
    """
    ctx = _current.get()
    if ctx is not None and ctx.runtime is not None:
        return ctx.runtime
    return _ambient_runtime.get()


@contextmanager
def using_runtime(services: Any) -> Iterator[None]:
    """Make ``services`` what :func:`runtime` returns inside the block (validation, object_info)."""
    token = _ambient_runtime.set(services)
    try:
        yield
    finally:
        _ambient_runtime.reset(token)


def set_current(ctx: NodeContext | None) -> Any:
    """Install ``ctx`` (executor use); returns a token for :func:`reset_current`."""
    return _current.set(ctx)


def reset_current(token: Any) -> None:
    _current.reset(token)
