"""The adapter for ComfyUI's V1 node class convention (reference 5.2).

A V1 node is a class with ``INPUT_TYPES()``, ``RETURN_TYPES``, ``FUNCTION`` and optional attributes.
:func:`spec_from_comfy_class` reads such a class once, at registration, into the same frozen
:class:`~graph.spec.NodeSpec` that the native API (:mod:`nodes.api`) produces, so the engine never probes a
class. Problems are found here, not at run time:

- a missing ``FUNCTION`` method, a malformed ``INPUT_TYPES`` entry, or ``RETURN_NAMES`` /
  ``OUTPUT_IS_LIST`` lengths that disagree with ``RETURN_TYPES`` raise ``TypeError`` naming the class;
- an attribute that looks like a misspelled capability (``IS_CHANGE``, ``OUTPUT_NODES``) is reported as a
  warning, since ComfyUI would silently ignore it.

Semantics kept from ComfyUI: COMBO lists are re-read from ``INPUT_TYPES()`` whenever they are asked for
(model folders change); ``VALIDATE_INPUTS`` receives only the inputs it names (``input_types`` when it asks);
``FUNCTION`` may be ``async``; a function taking ``**kwargs`` receives undeclared linked inputs. One
deliberate difference: a *required* widget with a ``default`` is optional here (the default is filled in
when the workflow leaves it out) instead of failing validation, which makes a V1 node and its native twin
produce equal specs.

The layout hints that make ``/object_info`` reproduce the class's own ``INPUT_TYPES`` (which section an
input was declared in, ``"COMBO"`` versus legacy list combos) travel in ``NodeSpec.extra_info`` under
:data:`nodes.object_info.UI_SECTIONS` and :data:`nodes.object_info.UI_COMBO_TYPE`.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from graph.spec import MISSING, ExecutionBlocker, HiddenSpec, InputSpec, NodeOutput, NodeSpec, OutputSpec
from nodes.api import accepted_keywords, call_accepting, make_output
from nodes.object_info import UI_COMBO_TYPE, UI_SECTIONS

logger = logging.getLogger(__name__)


_KNOWN_ATTRIBUTES = frozenset(
    {
        "INPUT_TYPES", "RETURN_TYPES", "RETURN_NAMES", "OUTPUT_TOOLTIPS", "FUNCTION", "CATEGORY",
        "OUTPUT_NODE", "INPUT_IS_LIST", "OUTPUT_IS_LIST", "IS_CHANGED", "VALIDATE_INPUTS", "NOT_IDEMPOTENT",
        "DESCRIPTION", "DEPRECATED", "EXPERIMENTAL", "API_NODE", "SEARCH_ALIASES", "RELATIVE_PYTHON_MODULE",
        "check_lazy_status",
    }
)
_SPEC_OPTION_KEYS = frozenset({"default", "min", "max", "lazy", "rawLink"})

Warn = Callable[[str], None]


def _where(name: str, cls: Any) -> str:
    qualname = getattr(cls, "__qualname__", type(cls).__qualname__)
    return f"ComfyUI node {name!r} ({getattr(cls, '__module__', '?')}.{qualname})"


def _misspellings(name: str, cls: type, warn: Warn) -> None:
    for attr in dir(cls):
        if attr.startswith("_") or attr in _KNOWN_ATTRIBUTES or not (attr.isupper() or "lazy" in attr):
            continue
        close = difflib.get_close_matches(attr, _KNOWN_ATTRIBUTES, n=1, cutoff=0.85)
        if close:
            warn(f"{_where(name, cls)}: attribute {attr!r} looks like a misspelling of {close[0]!r}; it is ignored")


def _as_class_callable(cls: type, attr: str) -> Callable[..., Any] | None:
    """A class-level hook (IS_CHANGED, VALIDATE_INPUTS) as a callable; a plain function gets ``cls`` bound."""
    raw = inspect.getattr_static(cls, attr, None)
    if raw is None:
        return None
    if isinstance(raw, (classmethod, staticmethod)):
        return getattr(cls, attr)  # type: ignore[no-any-return]
    if inspect.isfunction(raw):
        return functools.partial(raw, cls)  # ComfyUI forgets @classmethod sometimes; bind the class anyway
    return raw if callable(raw) else None


class ComfyChoices:
    """The choices of one COMBO input, re-read from ``INPUT_TYPES()`` each time (as ComfyUI does)."""

    __slots__ = ("cls", "section", "name")

    def __init__(self, cls: type, section: str, name: str) -> None:
        self.cls = cls
        self.section = section
        self.name = name

    def __call__(self) -> list[Any]:
        entry = self.cls.INPUT_TYPES()[self.section][self.name]  # type: ignore[attr-defined]
        kind, options = entry[0], (entry[1] if len(entry) > 1 and isinstance(entry[1], Mapping) else {})
        return list(kind) if isinstance(kind, (list, tuple)) else list(options.get("options", ()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ComfyChoices):
            return (self.cls, self.section, self.name) == (other.cls, other.section, other.name)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.cls, self.section, self.name))

    def __repr__(self) -> str:
        return f"ComfyChoices({self.cls.__qualname__}.INPUT_TYPES()[{self.section!r}][{self.name!r}])"


def _input_spec(cls: type, section: str, name: str, entry: Any, where: str) -> tuple[InputSpec, bool]:
    """One INPUT_TYPES entry -> (InputSpec, declared with the "COMBO" type string)."""
    if isinstance(entry, str):
        entry = (entry,)
    if not isinstance(entry, (tuple, list)) or not entry:
        raise TypeError(f"{where}: INPUT_TYPES {section}.{name} must be a tuple like ('INT', {{...}}), got {entry!r}")
    kind = entry[0]
    options = entry[1] if len(entry) > 1 and entry[1] is not None else {}
    if not isinstance(options, Mapping):
        raise TypeError(f"{where}: INPUT_TYPES {section}.{name}: the options must be a dict, got {options!r}")
    combo_type = kind == "COMBO"
    if isinstance(kind, (list, tuple)) or combo_type:
        port_type, choices = "COMBO", ComfyChoices(cls, section, name)
    elif isinstance(kind, str):
        port_type, choices = kind, None
    else:
        raise TypeError(f"{where}: INPUT_TYPES {section}.{name}: the type must be a string or a list of choices")
    default = options.get("default", MISSING)
    skip = _SPEC_OPTION_KEYS | ({"options"} if combo_type else set())
    spec = InputSpec(
        name=name,
        type=port_type,
        required=section == "required" and default is MISSING,
        default=default,
        min=options.get("min"),
        max=options.get("max"),
        choices=choices,
        lazy=bool(options.get("lazy", False)),
        raw_link=bool(options.get("rawLink", False)),
        options={k: v for k, v in options.items() if k not in skip},
    )
    return spec, combo_type


def _read_inputs(
    cls: type, where: str, warn: Warn
) -> tuple[tuple[InputSpec, ...], tuple[HiddenSpec, ...], dict[str, str], frozenset[str]]:
    try:
        declared = cls.INPUT_TYPES()  # type: ignore[attr-defined]
    except Exception as exc:
        raise TypeError(f"{where}: INPUT_TYPES() raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(declared, Mapping):
        raise TypeError(f"{where}: INPUT_TYPES() must return a dict with 'required'/'optional'/'hidden'")
    unknown = sorted(set(declared) - {"required", "optional", "hidden"})
    if unknown:
        warn(f"{where}: INPUT_TYPES sections {unknown} are ignored; use 'required', 'optional' or 'hidden'")
    inputs: list[InputSpec] = []
    sections: dict[str, str] = {}
    combo_type: set[str] = set()
    for section in ("required", "optional"):
        for input_name, entry in (declared.get(section) or {}).items():
            spec, is_combo_type = _input_spec(cls, section, input_name, entry, where)
            inputs.append(spec)
            sections[input_name] = section
            if is_combo_type:
                combo_type.add(input_name)
    hidden = []
    for input_name, kind in (declared.get("hidden") or {}).items():
        kind = kind[0] if isinstance(kind, (list, tuple)) and kind else kind  # V3 style ["PROMPT"]
        hidden.append(HiddenSpec(input_name, str(kind)))  # type: ignore[arg-type]
    return tuple(inputs), tuple(hidden), sections, frozenset(combo_type)


def _read_outputs(cls: type, where: str) -> tuple[OutputSpec, ...]:
    return_types = getattr(cls, "RETURN_TYPES", None)
    if not isinstance(return_types, (tuple, list)):
        raise TypeError(f"{where}: RETURN_TYPES must be a tuple of type names, e.g. RETURN_TYPES = ('IMAGE',)")
    types_ = ["*" if t == [] else "COMBO" if isinstance(t, (list, tuple)) else str(t) for t in return_types]
    n = len(types_)

    def per_output(attr: str, fallback: Sequence[Any]) -> list[Any]:
        value = getattr(cls, attr, None)
        if value is None:
            return list(fallback)
        if not isinstance(value, (tuple, list)) or len(value) != n:
            raise TypeError(f"{where}: {attr} must have one entry per RETURN_TYPES entry ({n}), got {value!r}")
        return list(value)

    names = per_output("RETURN_NAMES", types_)
    is_list = per_output("OUTPUT_IS_LIST", [False] * n)
    tooltips = per_output("OUTPUT_TOOLTIPS", [None] * n)
    return tuple(OutputSpec(str(names[i]), types_[i], bool(is_list[i]), tooltips[i]) for i in range(n))


def _function(cls: type, where: str) -> tuple[str, Callable[..., Any]]:
    function_name = getattr(cls, "FUNCTION", None)
    if not isinstance(function_name, str):
        raise TypeError(f"{where}: FUNCTION must name the method to call, e.g. FUNCTION = 'run'")
    method = getattr(cls, function_name, None)
    if not callable(method):
        raise TypeError(
            f"{where}: FUNCTION = {function_name!r} names no method; define `def {function_name}(self, ...)`"
        )
    return function_name, method


def spec_from_comfy_class(
    name: str,
    cls: type,
    display_name: str | None = None,
    python_module: str | None = None,
    *,
    warn: Warn | None = None,
) -> NodeSpec:
    """Read a ComfyUI V1 node class into a :class:`NodeSpec`.

    Args:
        name: the NODE_CLASS_MAPPINGS key (the workflow's ``class_type``).
        cls: the node class.
        display_name: the NODE_DISPLAY_NAME_MAPPINGS entry, if any.
        python_module: ``/object_info``'s ``python_module`` (``custom_nodes.<pack>``); default: the class's
            RELATIVE_PYTHON_MODULE, else ``custom_nodes.<top-level module>``.
        warn: receives soft problems (misspelled attributes); default ``logger.warning``.

    Raises:
        TypeError: the class breaks the convention; the message names it and the attribute to fix.
    """
    warn = warn or logger.warning
    where = _where(name, cls)
    if not isinstance(cls, type):
        raise TypeError(f"{where}: NODE_CLASS_MAPPINGS values must be classes, got {cls!r}")
    _misspellings(name, cls, warn)
    inputs, hidden, sections, combo_type = _read_inputs(cls, where, warn)
    outputs = _read_outputs(cls, where)
    function_name, method = _function(cls, where)
    validate = _as_class_callable(cls, "VALIDATE_INPUTS")
    validate_args = accepted_keywords(validate) if validate else None
    fingerprint = _as_class_callable(cls, "IS_CHANGED")
    defaults = {i.name: i.default for i in inputs if sections[i.name] == "required" and i.default is not MISSING}
    input_is_list = bool(getattr(cls, "INPUT_IS_LIST", False))
    check_lazy = getattr(cls, "check_lazy_status", None)
    extra: dict[str, Any] = {UI_SECTIONS: sections, UI_COMBO_TYPE: combo_type}
    if getattr(cls, "API_NODE", False):
        extra["api_node"] = True
    description = getattr(cls, "DESCRIPTION", "")
    if python_module is None:
        python_module = getattr(cls, "RELATIVE_PYTHON_MODULE", None) or f"custom_nodes.{cls.__module__.split('.')[0]}"

    def create() -> ComfyInstance:
        return ComfyInstance(cls(), name, function_name, outputs, defaults, input_is_list)

    return NodeSpec(
        type_name=name,
        inputs=inputs,
        outputs=outputs,
        create=create,
        hidden=hidden,
        is_output=bool(getattr(cls, "OUTPUT_NODE", False)),
        input_is_list=input_is_list,
        not_idempotent=bool(getattr(cls, "NOT_IDEMPOTENT", False)),
        accepts_extra=accepted_keywords(method) is None,
        has_lazy_check=callable(check_lazy),
        validate=_with_defaults(validate, validate_args, defaults) if validate else None,
        validate_args=None if validate_args is None else validate_args - {"input_types"},
        validate_types=validate_args is not None and "input_types" in validate_args,
        fingerprint=_with_defaults(fingerprint, accepted_keywords(fingerprint), defaults) if fingerprint else None,
        is_async=inspect.iscoroutinefunction(method),
        category=str(getattr(cls, "CATEGORY", "sd")),
        display_name=display_name,
        description=description if isinstance(description, str) else str(description),
        python_module=python_module,
        deprecated=bool(getattr(cls, "DEPRECATED", False)),
        experimental=bool(getattr(cls, "EXPERIMENTAL", False)),
        extra_info=extra,
    )


def _with_defaults(
    fn: Callable[..., Any], accepted: frozenset[str] | None, defaults: Mapping[str, Any]
) -> Callable[..., Any]:
    """``fn`` called with the keywords it accepts, required-widget defaults filled in."""

    def call(**kwargs: Any) -> Any:
        return call_accepting(fn, accepted, {**defaults, **kwargs})

    call.__wrapped__ = fn  # type: ignore[attr-defined]
    return call


def normalize_comfy_result(type_name: str, outputs: Sequence[OutputSpec], result: Any) -> NodeOutput:
    """A V1 FUNCTION's return value as a :class:`NodeOutput`.

    Accepted: a tuple or list of values; a dict with ``"ui"``, ``"result"`` and/or ``"expand"``; None (no
    values); an :class:`ExecutionBlocker` (every output blocked); a NodeOutput as is.

    Raises:
        TypeError: any other value, or a value count that does not match RETURN_TYPES.
    """
    if isinstance(result, NodeOutput):
        return result
    if isinstance(result, ExecutionBlocker):
        return NodeOutput((result,) * len(outputs))
    if result is None:
        return NodeOutput()
    if isinstance(result, Mapping):
        values = result.get("result") or ()
        if not isinstance(values, (tuple, list)):
            raise TypeError(f"node {type_name!r}: the 'result' of a returned dict must be a tuple")
        return make_output(type_name, outputs, tuple(values)[: len(outputs)], result.get("ui"), result.get("expand"))
    if isinstance(result, (tuple, list)):
        return make_output(type_name, outputs, tuple(result)[: len(outputs)])
    raise TypeError(
        f"node {type_name!r} returned {type(result).__name__}; V1 nodes return a tuple matching RETURN_TYPES, "
        f"a dict with 'ui'/'result'/'expand', or None"
    )


class ComfyInstance:
    """The executor's instance of a V1 node: one object of the class, called through FUNCTION."""

    __slots__ = ("obj", "_type_name", "_function", "_outputs", "_defaults", "_input_is_list")

    def __init__(
        self,
        obj: Any,
        type_name: str,
        function_name: str,
        outputs: tuple[OutputSpec, ...],
        defaults: Mapping[str, Any],
        input_is_list: bool,
    ) -> None:
        self.obj = obj
        self._type_name = type_name
        self._function = function_name
        self._outputs = outputs
        self._defaults = {k: [v] for k, v in defaults.items()} if input_is_list else dict(defaults)
        self._input_is_list = input_is_list

    def run(self, **inputs: Any) -> Any:
        result = getattr(self.obj, self._function)(**{**self._defaults, **inputs})
        if inspect.isawaitable(result):
            return self._finish_async(result)
        return normalize_comfy_result(self._type_name, self._outputs, result)

    async def _finish_async(self, awaitable: Any) -> NodeOutput:
        return normalize_comfy_result(self._type_name, self._outputs, await awaitable)

    def check_lazy(self, **inputs: Any) -> list[str]:
        check = getattr(self.obj, "check_lazy_status", None)
        if check is None:
            return []
        return list(check(**{**self._defaults, **inputs}) or [])


def specs_from_mappings(
    class_mappings: Mapping[str, Any],
    display_names: Mapping[str, str] | None,
    python_module: str | None,
    *,
    warn: Warn | None = None,
) -> tuple[list[NodeSpec], list[tuple[str, str]]]:
    """Specs for every entry of a pack's NODE_CLASS_MAPPINGS; broken classes are returned as
    ``(name, reason)`` instead of raising, so one bad node does not take its pack down."""
    specs: list[NodeSpec] = []
    failures: list[tuple[str, str]] = []
    for name, cls in class_mappings.items():
        try:
            display = (display_names or {}).get(name)
            specs.append(spec_from_comfy_class(str(name), cls, display, python_module, warn=warn))
        except Exception as exc:
            failures.append((str(name), f"{type(exc).__name__}: {exc}"))
    return specs, failures
