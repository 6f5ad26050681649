"""Build NodeSpecs straight from graph.spec for engine tests (no dependency on nodes/)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from graph.spec import ExecutionBlocker, HiddenSpec, InputSpec, NodeOutput, NodeSpec, OutputSpec


class FnInstance:
    def __init__(self, fn: Callable[..., Any], lazy_fn: Callable[..., Any] | None) -> None:
        self.fn = fn
        self.lazy_fn = lazy_fn

    def run(self, **inputs: Any) -> Any:
        result = self.fn(**inputs)
        if inspect.isawaitable(result):
            return _wrap_async(result)
        return wrap(result)

    def check_lazy(self, **inputs: Any) -> list[str]:
        return list(self.lazy_fn(**inputs)) if self.lazy_fn else []


async def _wrap_async(awaitable: Any) -> NodeOutput:
    return wrap(await awaitable)


def wrap(result: Any) -> Any:
    if isinstance(result, (NodeOutput, ExecutionBlocker)):
        return result
    if result is None:
        return NodeOutput(())
    if not isinstance(result, tuple):
        result = (result,)
    return NodeOutput(result)


def spec(
    name: str,
    fn: Callable[..., Any],
    inputs: Mapping[str, str | InputSpec] | None = None,
    outputs: list[str | OutputSpec] | None = None,
    *,
    lazy_check: Callable[..., Any] | None = None,
    hidden: tuple[HiddenSpec, ...] = (),
    **flags: Any,
) -> NodeSpec:
    ins = tuple(v if isinstance(v, InputSpec) else InputSpec(k, v) for k, v in (inputs or {}).items())
    outs = tuple(o if isinstance(o, OutputSpec) else OutputSpec(o, o) for o in (outputs or []))
    return NodeSpec(
        type_name=name,
        inputs=ins,
        outputs=outs,
        create=lambda: FnInstance(fn, lazy_check),
        hidden=hidden,
        has_lazy_check=lazy_check is not None,
        is_async=inspect.iscoroutinefunction(fn),
        **flags,
    )


class DictRegistry:
    def __init__(self, *specs: NodeSpec) -> None:
        self.specs = {s.type_name: s for s in specs}

    def add(self, s: NodeSpec) -> None:
        self.specs[s.type_name] = s

    def spec(self, type_name: str) -> NodeSpec | None:
        return self.specs.get(type_name)
