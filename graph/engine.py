"""The engine facade: parse, validate, run.

``Engine`` ties a registry, a cache policy, hooks and the runtime services handed to nodes into one object
built by the application (CLI or server) with explicit constructor injection::

    engine = Engine(registry, cache=LRUCache(64), hooks=print_events)
    report = engine.validate(doc)              # every error at once
    result = engine.run(doc)                   # raises ValidationFailed with the same errors

Tests build one with a toy registry in a line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from graph.cache import Cache
from graph.context import CancelToken, using_runtime
from graph.errors import ValidationFailed, WorkflowFormatError
from graph.events import Event
from graph.executor import Executor, RunResult
from graph.spec import Registry
from graph.validate import ValidationReport, validate
from graph.workflow import Workflow


class Engine:
    """Validates and runs workflows. One engine serves many runs, one at a time."""

    def __init__(self, registry: Registry, cache: Cache | None = None, hooks: Callable[[Event], None] | None = None, runtime: Any = None) -> None:
        self.registry = registry
        self.executor = Executor(registry, cache, hooks, runtime)

    @property
    def cache(self) -> Cache:
        return self.executor.cache

    def parse(self, doc: Any) -> Workflow:
        """An API-format document as a :class:`Workflow` (raises :class:`WorkflowFormatError`)."""
        return Workflow.parse(doc)

    def validate(self, doc: Any, targets: Sequence[str] | None = None) -> ValidationReport:
        """Validate a document or workflow; never raises for problems in the graph itself.

        Raises:
            WorkflowFormatError: the document is not an API-format workflow at all.
        """
        with using_runtime(self.executor.runtime):
            return validate(self.parse(doc), self.registry, targets)

    def run(
        self,
        doc: Any,
        *,
        targets: Sequence[str] | None = None,
        prompt_id: str | None = None,
        extra_data: Mapping[str, Any] | None = None,
        cancel: CancelToken | None = None,
        hooks: Callable[[Event], None] | None = None,
        strict: bool = True,
    ) -> RunResult:
        """Validate, then run the outputs that passed.

        Args:
            strict: refuse to run when any error was found (the CLI). With ``strict=False`` the outputs
                that validated run and the failing ones are dropped, as ComfyUI's server does.

        Raises:
            WorkflowFormatError: the document is unreadable.
            ValidationFailed: errors were found (strict) or no output survived validation.
        """
        report = self.validate(doc, targets)
        if report.errors and (strict or not report.outputs):
            raise ValidationFailed(report.errors)
        return self.execute(report, prompt_id=prompt_id, extra_data=extra_data, cancel=cancel, hooks=hooks)

    def execute(
        self,
        report: ValidationReport,
        *,
        prompt_id: str | None = None,
        extra_data: Mapping[str, Any] | None = None,
        cancel: CancelToken | None = None,
        hooks: Callable[[Event], None] | None = None,
    ) -> RunResult:
        """Run an already validated workflow (its coerced form and the outputs that passed)."""
        return self.executor.run(report.workflow, prompt_id=prompt_id, targets=report.outputs, extra_data=extra_data, cancel=cancel, hooks=hooks)


__all__ = ["Engine", "RunResult", "ValidationFailed", "WorkflowFormatError"]
