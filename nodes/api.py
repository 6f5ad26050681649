"""latentloom's native node API: a node is a typed function, and its signature is its spec.

    from typing import Annotated, Literal
    from nodes.api import node, Range, Widget, Latent

    @node("IntAdd", category="utils/math", description="a + b")
    def int_add(a: Annotated[int, Range(-2**63, 2**63 - 1)] = 0, b: int = 0) -> int:
        return a + b

How a signature becomes ports (the rules, in the order they apply):

- Every parameter needs a type hint; a missing or unknown one raises ``TypeError`` at decoration, naming
  the node, the function and the parameter, with an example of a fix.
- ``int``, ``float``, ``str`` and ``bool`` are the widget types ``INT``, ``FLOAT``, ``STRING`` and
  ``BOOLEAN``; ``Literal["a", "b"]`` and ``Annotated[str, Choices(list_or_provider)]`` are ``COMBO``.
  Data ports use :class:`Port` (``Port("MY_TYPE")``) or the aliases below (``Image``, ``Latent``, ``Model``,
  ``AnyType`` = ``*`` ...).
- A parameter without a default is required. A parameter with a default is optional: the engine does not
  pass it when the workflow leaves it out, so the Python default applies, and for widget types the default
  is shown to UIs (``/object_info`` lists widgets with a default under ``required``, as ComfyUI UIs expect).
  ``X | None = None`` is an optional port without a UI default.
- ``Annotated`` extras: :class:`Range` (numeric bounds, step, round), :class:`Choices`, :class:`Lazy`,
  :class:`RawLink`, :class:`Widget` (UI options: tooltip, multiline, control_after_generate...),
  :class:`Hidden` (``PROMPT``, ``EXTRA_PNGINFO``, ``UNIQUE_ID``, ``DYNPROMPT``...: filled by the engine,
  not ports).
- Outputs come from the return annotation: one type, ``tuple[...]``, or a ``NamedTuple`` subclass whose
  field names become output names; ``-> None`` declares none. ``Annotated[list[X], ListOutput()]`` is
  ComfyUI's OUTPUT_IS_LIST; ``OutputInfo(name=..., tooltip=...)`` names and documents an output.
- ``input_is_list=True`` calls the function once with whole lists; parameters may then be written
  ``list[X]`` (the port type is ``X``).

The function may return a plain value (one output), a tuple (several), :class:`Result` (values plus ``ui``
and/or ``expand``) or an :class:`~graph.spec.ExecutionBlocker`. It stays a plain Python function; its
:class:`~graph.spec.NodeSpec` is :func:`spec_of(fn) <spec_of>`. :class:`GraphBuilder` writes API-format
graphs in Python, for expanding nodes and for tests.

Loader nodes name models in the application's folders with ``Choices(model_choices("loras"))``,
``fingerprint=file_fingerprint("loras", "lora_name")`` (or ``folder_fingerprint`` for a diffusers folder)
and :func:`find_model`; see :mod:`nodes.model_inputs`.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

from graph.spec import (
    MISSING,
    PRIMITIVE_TYPES,
    ExecutionBlocker,
    HiddenKind,
    HiddenSpec,
    InputSpec,
    NodeOutput,
    NodeSpec,
    OutputSpec,
)
from graph.workflow import Link
from nodes.builder import GraphBuilder, NodeHandle
from nodes.model_inputs import file_fingerprint, find_model, folder_fingerprint, load_folder, model_choices

__all__ = [
    "AnyType", "Audio", "Choices", "Clip", "ClipVision", "ClipVisionOutput", "Conditioning", "ControlNet",
    "ExecutionBlocker", "GraphBuilder", "Guider", "Hidden", "Image", "Latent", "Lazy", "Link", "ListOutput",
    "Mask", "Model", "NodeHandle", "Noise", "OutputInfo", "Port", "Range", "RawLink", "Result", "Sampler",
    "Sigmas", "UpscaleModel", "Vae", "Video", "Widget", "file_fingerprint", "find_model", "folder_fingerprint",
    "load_folder", "make_output", "model_choices", "node", "spec_from_function", "spec_of",
]

F = TypeVar("F", bound=Callable[..., Any])

_HIDDEN_KINDS = frozenset(get_args(HiddenKind))
_SPEC_ATTR = "__latentloom_spec__"


# --------------------------------------------------------------------------------------------------
# Annotation markers


@dataclass(frozen=True, slots=True)
class Port:
    """A port of ComfyUI type ``type``: ``Port("MODEL")``, ``Port("MY_TYPE")``, ``Port("*")``."""

    type: str

    def __post_init__(self) -> None:
        if not isinstance(self.type, str) or not self.type.strip():
            raise TypeError(f"Port type must be a non-empty string such as 'IMAGE', got {self.type!r}")


@dataclass(frozen=True, slots=True)
class Range:
    """Inclusive numeric bounds of an INT/FLOAT widget, plus the UI's ``step`` and ``round``."""

    min: float | None = None
    max: float | None = None
    step: float | None = None
    round: float | None = None

    def __post_init__(self) -> None:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise TypeError(f"Range(min={self.min}, max={self.max}): min is greater than max")


@dataclass(frozen=True, slots=True)
class Choices:
    """The values of a COMBO: a list, or a zero-argument callable computing it when asked (model files)."""

    source: Sequence[Any] | Callable[[], Sequence[Any]]


@dataclass(frozen=True, slots=True)
class Lazy:
    """The input is evaluated only when the node's ``check_lazy`` asks for it."""


@dataclass(frozen=True, slots=True)
class RawLink:
    """The node receives the link ``[node_id, slot]`` itself instead of the value (for expansion)."""


@dataclass(frozen=True, slots=True)
class Hidden:
    """A hidden input the engine fills: ``PROMPT``, ``EXTRA_PNGINFO``, ``UNIQUE_ID``, ``DYNPROMPT``..."""

    kind: str

    def __post_init__(self) -> None:
        if self.kind not in _HIDDEN_KINDS:
            raise TypeError(f"Hidden({self.kind!r}): unknown kind; use one of {sorted(_HIDDEN_KINDS)}")


@dataclass(frozen=True, slots=True)
class ListOutput:
    """Marks ``Annotated[list[X], ListOutput()]`` as a list output (ComfyUI's OUTPUT_IS_LIST)."""


@dataclass(frozen=True, slots=True)
class OutputInfo:
    """Names or documents one output: ``Annotated[int, OutputInfo(name="length", tooltip="...")]``."""

    name: str | None = None
    tooltip: str | None = None


# Python spellings of ComfyUI's camelCase widget options; every other keyword is passed as written.
_CAMEL_OPTIONS = {
    "force_input": "forceInput",
    "default_input": "defaultInput",
    "dynamic_prompts": "dynamicPrompts",
    "widget_type": "widgetType",
}
_NOT_WIDGET_OPTIONS = {
    "default": "give the parameter a Python default instead",
    "min": "use Range(min, max)",
    "max": "use Range(min, max)",
    "step": "use Range(..., step=...)",
    "round": "use Range(..., round=...)",
    "lazy": "use Lazy()",
    "rawLink": "use RawLink()",
    "raw_link": "use RawLink()",
    "options": "use Literal[...] or Choices(...)",
}


class Widget:
    """UI options of an input, passed to ``/object_info`` as given (``tooltip``, ``multiline``,
    ``placeholder``, ``control_after_generate``, ``display``, ``label_on``/``label_off``, ``force_input``...).
    Snake-case spellings of ComfyUI's camelCase keys (``force_input`` -> ``forceInput``) are translated."""

    __slots__ = ("options",)

    def __init__(self, **options: Any) -> None:
        for key in options:
            if key in _NOT_WIDGET_OPTIONS:
                raise TypeError(f"Widget({key}=...) is not a widget option: {_NOT_WIDGET_OPTIONS[key]}")
        self.options: dict[str, Any] = {_CAMEL_OPTIONS.get(k, k): v for k, v in options.items()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Widget) and other.options == self.options

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.options)))

    def __repr__(self) -> str:
        return f"Widget({', '.join(f'{k}={v!r}' for k, v in self.options.items())})"


# Data port aliases (ComfyUI's core types).
AnyType = Annotated[Any, Port("*")]
Image = Annotated[Any, Port("IMAGE")]
Mask = Annotated[Any, Port("MASK")]
Latent = Annotated[Any, Port("LATENT")]
Model = Annotated[Any, Port("MODEL")]
Clip = Annotated[Any, Port("CLIP")]
Vae = Annotated[Any, Port("VAE")]
Conditioning = Annotated[Any, Port("CONDITIONING")]
ControlNet = Annotated[Any, Port("CONTROL_NET")]
ClipVision = Annotated[Any, Port("CLIP_VISION")]
ClipVisionOutput = Annotated[Any, Port("CLIP_VISION_OUTPUT")]
UpscaleModel = Annotated[Any, Port("UPSCALE_MODEL")]
Sampler = Annotated[Any, Port("SAMPLER")]
Sigmas = Annotated[Any, Port("SIGMAS")]
Noise = Annotated[Any, Port("NOISE")]
Guider = Annotated[Any, Port("GUIDER")]
Audio = Annotated[Any, Port("AUDIO")]
Video = Annotated[Any, Port("VIDEO")]


class Result:
    """A node's return value with extras: ``Result(*values, ui={"text": [...]}, expand=graph)``.

    ``expand`` is an API-format dict or a :class:`GraphBuilder`; ``values`` may then be links into it
    (``handle.out(0)``).
    """

    __slots__ = ("values", "ui", "expand")

    def __init__(self, *values: Any, ui: Mapping[str, Any] | None = None, expand: Any = None) -> None:
        self.values = values
        self.ui = ui
        self.expand = expand

    def __repr__(self) -> str:
        return f"Result(values={self.values!r}, ui={self.ui!r}, expand={self.expand!r})"


# --------------------------------------------------------------------------------------------------
# From annotations to ports


@dataclass
class _Port:
    """What one annotation says about a port (before it becomes an InputSpec or OutputSpec)."""

    type: str = ""
    choices: Sequence[Any] | Callable[[], Sequence[Any]] | None = None
    min: float | None = None
    max: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    lazy: bool = False
    raw_link: bool = False
    hidden: str | None = None
    is_list: bool = False
    name: str | None = None
    tooltip: str | None = None
    optional_none: bool = False


_INPUT_MARKERS = (Port, Range, Choices, Lazy, RawLink, Widget, Hidden)
_OUTPUT_MARKERS = (Port, ListOutput, OutputInfo)
_BUILTIN_PORTS = {bool: "BOOLEAN", int: "INT", float: "FLOAT", str: "STRING"}
_FIX_EXAMPLES = "e.g. `x: int`, `x: Image`, `x: Literal['a', 'b']` or `x: Annotated[int, Range(0, 10)]`"


def _strip_optional(hint: Any, where: str) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); other unions are an error (use ``Port("A,B")``)."""
    if get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
        raise TypeError(f"{where}: a union is not a port type; use Port('A,B') for a ComfyUI union type")
    return hint, False


def _apply_marker(port: _Port, marker: Any, where: str, allowed: tuple[type, ...]) -> None:
    if not isinstance(marker, allowed):
        kind = "outputs" if allowed is _OUTPUT_MARKERS else "inputs"
        raise TypeError(
            f"{where}: {marker!r} is not allowed on {kind}; "
            f"use {', '.join(m.__name__ + '()' for m in allowed)}"
        )
    if isinstance(marker, Port):
        port.type = marker.type
    elif isinstance(marker, Range):
        port.min, port.max = marker.min, marker.max
        port.options.update({k: v for k, v in (("step", marker.step), ("round", marker.round)) if v is not None})
    elif isinstance(marker, Choices):
        port.choices = marker.source if callable(marker.source) else list(marker.source)
    elif isinstance(marker, Lazy):
        port.lazy = True
    elif isinstance(marker, RawLink):
        port.raw_link = True
    elif isinstance(marker, Widget):
        port.options.update(marker.options)
    elif isinstance(marker, Hidden):
        port.hidden = marker.kind
    elif isinstance(marker, ListOutput):
        port.is_list = True
    elif isinstance(marker, OutputInfo):
        port.name, port.tooltip = marker.name, marker.tooltip


def _parse_hint(hint: Any, where: str, *, output: bool, element_lists: bool) -> _Port:
    """Read one annotation into a :class:`_Port` (see the module docstring for the rules)."""
    port = _Port()
    hint, port.optional_none = _strip_optional(hint, where)
    if get_origin(hint) is Annotated:
        base, *meta = get_args(hint)
        for marker in meta:
            _apply_marker(port, marker, where, _OUTPUT_MARKERS if output else _INPUT_MARKERS)
        base, none2 = _strip_optional(base, where)
        port.optional_none |= none2
    else:
        base = hint
    if port.hidden:
        return port
    if port.is_list or (element_lists and get_origin(base) is list):
        if get_origin(base) is not list or len(get_args(base)) != 1:
            raise TypeError(f"{where}: ListOutput() needs `Annotated[list[X], ListOutput()]`, got {base!r}")
        inner = _parse_hint(get_args(base)[0], where, output=output, element_lists=False)
        port.type = port.type or inner.type
        port.choices = port.choices or inner.choices
        for key in ("min", "max"):
            if getattr(port, key) is None:
                setattr(port, key, getattr(inner, key))
        port.options = {**inner.options, **port.options}
    elif not port.type:
        port.type = _base_type(base, port, where)
    _check_port(port, where)
    return port


def _base_type(base: Any, port: _Port, where: str) -> str:
    if get_origin(base) is Literal:
        values = list(get_args(base))
        if not all(isinstance(v, (str, int, float)) for v in values):
            raise TypeError(f"{where}: Literal choices must be strings or numbers, got {values!r}")
        port.choices = values
        return "COMBO"
    if port.choices is not None:
        if base is not str:
            raise TypeError(f"{where}: Choices() applies to str parameters (COMBO), not {base!r}")
        return "COMBO"
    if base in _BUILTIN_PORTS:
        return _BUILTIN_PORTS[base]
    if base is Any:
        raise TypeError(f"{where}: `Any` is not a port type; use AnyType for a port accepting anything")
    raise TypeError(
        f"{where}: unknown annotation {base!r}; use a widget type (int, float, str, bool, Literal[...]), "
        f"a data port (Image, Latent, Model, AnyType...) or Annotated[Any, Port('MY_TYPE')]"
    )


def _check_port(port: _Port, where: str) -> None:
    if (port.min is not None or port.max is not None or "step" in port.options) and port.type not in ("INT", "FLOAT"):
        raise TypeError(f"{where}: Range() applies to INT and FLOAT ports, not {port.type}")
    if port.type == "FLOAT":
        port.min = None if port.min is None else float(port.min)
        port.max = None if port.max is None else float(port.max)
    if port.choices is not None and port.type != "COMBO":
        raise TypeError(f"{where}: Choices() applies to str parameters (COMBO), not {port.type}")


def _check_default(port: _Port, default: Any, where: str) -> Any:
    """The UI default for a widget port (validated), or MISSING."""
    if default is inspect.Parameter.empty or port.type not in PRIMITIVE_TYPES:
        return MISSING
    if default is None:
        if not port.optional_none:
            raise TypeError(f"{where}: default None needs an optional type, e.g. `int | None = None`")
        return MISSING
    expected = {"INT": int, "FLOAT": (int, float), "STRING": str, "BOOLEAN": bool}.get(port.type)
    if port.type == "COMBO":
        if isinstance(port.choices, list) and default not in port.choices:
            raise TypeError(f"{where}: default {default!r} is not one of the choices {port.choices!r}")
        return default
    if isinstance(default, bool) is not (port.type == "BOOLEAN") or not isinstance(default, expected):
        raise TypeError(f"{where}: default {default!r} is not a valid {port.type} value")
    if port.type == "FLOAT":
        default = float(default)
    if (port.min is not None and default < port.min) or (port.max is not None and default > port.max):
        raise TypeError(f"{where}: default {default!r} is outside Range({port.min}, {port.max})")
    return default


# --------------------------------------------------------------------------------------------------
# The decorator


def _type_hints(fn: Any, where: str) -> dict[str, Any]:
    try:
        localns = dict(inspect.getclosurevars(fn).nonlocals) if inspect.isfunction(fn) else None
        return typing.get_type_hints(fn, localns=localns, include_extras=True)  # type: ignore[arg-type]
    except Exception as exc:
        raise TypeError(
            f"{where}: could not resolve the type hints ({exc}); define the names they use at module level"
        ) from exc


def accepted_keywords(fn: Callable[..., Any]) -> frozenset[str] | None:
    """Keyword names ``fn`` accepts, or None when it takes ``**kwargs``."""
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return frozenset(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def call_accepting(fn: Callable[..., Any], accepted: frozenset[str] | None, kwargs: Mapping[str, Any]) -> Any:
    """Call ``fn`` with the keyword arguments it accepts (all of them when it takes ``**kwargs``)."""
    if accepted is None:
        return fn(**kwargs)
    return fn(**{k: v for k, v in kwargs.items() if k in accepted})


def _inputs_from_signature(
    fn: Callable[..., Any], where: str, *, input_is_list: bool, accepts_extra: bool
) -> tuple[tuple[InputSpec, ...], tuple[HiddenSpec, ...]]:
    hints = _type_hints(fn, where)
    inputs: list[InputSpec] = []
    hidden: list[HiddenSpec] = []
    has_var_kw = False
    for param in inspect.signature(fn).parameters.values():
        at = f"{where}, parameter {param.name!r}"
        if param.kind is param.VAR_POSITIONAL:
            raise TypeError(f"{at}: *args cannot be a port; name each input")
        if param.kind is param.VAR_KEYWORD:
            has_var_kw = True
            continue
        if param.kind is param.POSITIONAL_ONLY:
            raise TypeError(f"{at}: inputs are passed by name; remove the `/` from the signature")
        if param.name not in hints:
            raise TypeError(f"{at}: missing type hint. Please add one to fix, {_FIX_EXAMPLES}")
        port = _parse_hint(hints[param.name], at, output=False, element_lists=input_is_list)
        if port.hidden:
            hidden.append(HiddenSpec(param.name, port.hidden))  # type: ignore[arg-type]
            continue
        default = param.default if not (input_is_list and isinstance(param.default, list)) else MISSING
        ui_default = _check_default(port, default, at) if default is not MISSING else MISSING
        inputs.append(
            InputSpec(
                name=param.name,
                type=port.type,
                required=param.default is inspect.Parameter.empty,
                default=ui_default,
                min=port.min,
                max=port.max,
                choices=port.choices,
                lazy=port.lazy,
                raw_link=port.raw_link,
                options=port.options,
            )
        )
    if has_var_kw and not accepts_extra:
        raise TypeError(f"{where}: **kwargs takes undeclared linked inputs; pass accepts_extra=True to @node")
    if accepts_extra and not has_var_kw:
        raise TypeError(f"{where}: accepts_extra=True needs a `**kwargs` parameter to receive the extra inputs")
    return tuple(inputs), tuple(hidden)


def _outputs_from_return(fn: Callable[..., Any], where: str) -> tuple[tuple[OutputSpec, ...], bool]:
    """The outputs, and whether the function returns them as a tuple (a NamedTuple or ``tuple[...]``, even
    of one item) rather than a single value."""
    hints = _type_hints(fn, where)
    if "return" not in hints:
        raise TypeError(
            f"{where}: missing return annotation. Please add one to fix, e.g. `-> int`, "
            f"`-> tuple[Image, Mask]`, a NamedTuple class, or `-> None` for a node without outputs"
        )
    hint = hints["return"]
    if hint is None or hint is type(None):
        return (), False
    if isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields"):
        field_hints = _type_hints(hint, where)
        items = [(name, field_hints.get(name, inspect.Parameter.empty)) for name in hint._fields]
    elif get_origin(hint) is tuple:
        args = get_args(hint)
        if Ellipsis in args:
            raise TypeError(f"{where}: `tuple[X, ...]` has no fixed outputs; list each output type")
        items = [(None, a) for a in args if a != ()]
    else:
        items = [(None, hint)]
    tuple_form = not (len(items) == 1 and items[0][1] is hint)
    outputs = []
    for index, (field_name, item) in enumerate(items):
        at = f"{where}, output {field_name or index}"
        if item is inspect.Parameter.empty:
            raise TypeError(f"{at}: missing type hint on the NamedTuple field. Please add one to fix")
        port = _parse_hint(item, at, output=True, element_lists=False)
        outputs.append(OutputSpec(port.name or field_name or port.type, port.type, port.is_list, port.tooltip))
    return tuple(outputs), tuple_form


def _check_hook(
    hook: Callable[..., Any] | None, what: str, allowed: set[str], where: str
) -> frozenset[str] | None:
    """Check that a validate/fingerprint/check_lazy function only names known inputs."""
    if hook is None:
        return None
    if not callable(hook):
        raise TypeError(f"{where}: {what}= must be a function, got {hook!r}")
    accepted = accepted_keywords(hook)
    unknown = sorted((accepted or frozenset()) - allowed)
    if unknown:
        raise TypeError(f"{where}: {what}= function takes {unknown}, which are not inputs of the node")
    return accepted


def spec_from_function(
    fn: Callable[..., Any],
    type_name: str,
    *,
    category: str = "sd",
    display_name: str | None = None,
    description: str | None = None,
    output: bool = False,
    input_is_list: bool = False,
    not_idempotent: bool = False,
    version: str = "1",
    validate: Callable[..., Any] | None = None,
    fingerprint: Callable[..., Any] | None = None,
    check_lazy: Callable[..., Any] | None = None,
    accepts_extra: bool = False,
    deprecated: bool = False,
    experimental: bool = False,
    python_module: str = "nodes",
) -> NodeSpec:
    """Derive a :class:`NodeSpec` from a typed function (the work of :func:`node`).

    Raises:
        TypeError: a missing or unknown annotation, a bad default, or an inconsistent option; the message
            names the node, the function and the parameter, and says how to fix it.
    """
    where = f"@node {type_name!r} ({getattr(fn, '__qualname__', fn)!s})"
    if not isinstance(type_name, str) or not type_name:
        raise TypeError(f"{where}: the node name must be a non-empty string")
    inputs, hidden = _inputs_from_signature(fn, where, input_is_list=input_is_list, accepts_extra=accepts_extra)
    outputs, tuple_form = _outputs_from_return(fn, where)
    names = {i.name for i in inputs}
    validate_args = _check_hook(validate, "validate", names | {"input_types"}, where)
    fingerprint_args = _check_hook(fingerprint, "fingerprint", names, where)
    lazy_args = _check_hook(check_lazy, "check_lazy", names | {h.name for h in hidden}, where)
    lazy_inputs = [i.name for i in inputs if i.lazy]
    if lazy_inputs and check_lazy is None:
        raise TypeError(f"{where}: {lazy_inputs} are Lazy(); pass check_lazy=fn returning the names still needed")
    if check_lazy is not None and not lazy_inputs:
        raise TypeError(f"{where}: check_lazy= is given but no input is Lazy(); mark them Annotated[..., Lazy()]")
    is_async = inspect.iscoroutinefunction(fn)
    if description is None:
        description = (inspect.getdoc(fn) or "").split("\n\n")[0].strip()

    def create() -> _FunctionNode:
        return _FunctionNode(fn, type_name, outputs, tuple_form, is_async, check_lazy, lazy_args)

    return NodeSpec(
        type_name=type_name,
        inputs=inputs,
        outputs=outputs,
        create=create,
        hidden=hidden,
        is_output=output,
        input_is_list=input_is_list,
        not_idempotent=not_idempotent,
        accepts_extra=accepts_extra,
        has_lazy_check=check_lazy is not None,
        validate=_filtered(validate, validate_args),
        validate_args=None if validate is None or validate_args is None else validate_args - {"input_types"},
        validate_types=validate is not None and validate_args is not None and "input_types" in validate_args,
        fingerprint=_filtered(fingerprint, fingerprint_args),
        is_async=is_async,
        version=str(version),
        category=category,
        display_name=display_name,
        description=description,
        python_module=python_module,
        deprecated=deprecated,
        experimental=experimental,
    )


def _filtered(fn: Callable[..., Any] | None, accepted: frozenset[str] | None) -> Callable[..., Any] | None:
    """``fn`` called with only the keywords it accepts (the engine passes every constant input)."""
    if fn is None or accepted is None:
        return fn

    def call(**kwargs: Any) -> Any:
        return call_accepting(fn, accepted, kwargs)

    call.__wrapped__ = fn  # type: ignore[attr-defined]
    return call


def node(type_name: str | Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Make a typed function a node; it stays a plain function, with its spec at :func:`spec_of`.

    Args:
        type_name: the ``class_type`` used in workflows (default: the function's name).
        **options: ``category``, ``display_name``, ``description`` (default: the docstring's first
            paragraph), ``output`` (an output node), ``input_is_list``, ``not_idempotent``, ``version``,
            ``validate=fn`` (returns True or an error string), ``fingerprint=fn`` (ComfyUI's IS_CHANGED),
            ``check_lazy=fn`` (names of lazy inputs still needed), ``accepts_extra``, ``deprecated``,
            ``experimental``, ``python_module``.

    Raises:
        TypeError: see :func:`spec_from_function`.
    """
    if callable(type_name):  # bare @node
        return node(None)(type_name)

    def decorate(fn: F) -> F:
        spec = spec_from_function(fn, type_name or fn.__name__, **options)
        setattr(fn, _SPEC_ATTR, spec)
        return fn

    return decorate


def spec_of(fn: Any) -> NodeSpec:
    """The :class:`NodeSpec` of a function decorated with :func:`node` (a NodeSpec is returned as is).

    Raises:
        TypeError: ``fn`` is not a node.
    """
    if isinstance(fn, NodeSpec):
        return fn
    spec = getattr(fn, _SPEC_ATTR, None)
    if not isinstance(spec, NodeSpec):
        raise TypeError(f"{fn!r} is not a node; decorate it with @node('Name', ...)")
    return spec


# --------------------------------------------------------------------------------------------------
# Running: results normalised to NodeOutput


def _as_link(value: Any) -> Any:
    if isinstance(value, NodeHandle):
        return value.out(0)
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int):
        return Link(value[0], value[1])
    return value


def make_output(
    type_name: str,
    outputs: Sequence[OutputSpec],
    values: Sequence[Any],
    ui: Any = None,
    expand: Any = None,
) -> NodeOutput:
    """Check and normalise one call's result (shared by the native API and the ComfyUI adapter).

    List outputs must be lists (tuples are converted); with ``expand``, ``[node_id, slot]`` values become
    :class:`~graph.workflow.Link` objects and a :class:`GraphBuilder` becomes its API dict.

    Raises:
        TypeError: wrong number of values, a list output that is not a list, or a ``ui`` that is not a dict.
    """
    values = tuple(values)
    if values and len(values) != len(outputs):
        names = [o.name for o in outputs]
        raise TypeError(f"node {type_name!r} returned {len(values)} value(s) for {len(outputs)} output(s) {names}")
    if ui is not None and not isinstance(ui, Mapping):
        raise TypeError(f"node {type_name!r}: ui must be a dict such as {{'text': [...]}}, got {type(ui).__name__}")
    if isinstance(expand, GraphBuilder):
        expand = expand.to_api()
    if expand is not None:
        if not isinstance(expand, Mapping):
            raise TypeError(f"node {type_name!r}: expand must be an API-format dict or a GraphBuilder")
        values = tuple(_as_link(v) for v in values)
    fixed = []
    for spec, value in zip(outputs, values):
        if spec.is_list and not isinstance(value, (list, Link, ExecutionBlocker)):
            if not isinstance(value, tuple):
                raise TypeError(
                    f"node {type_name!r}: output {spec.name!r} is a list output (OUTPUT_IS_LIST); "
                    f"return a list, got {type(value).__name__}"
                )
            value = list(value)
        fixed.append(value)
    return NodeOutput(tuple(fixed), ui=ui, expand=expand)


def _native_output(type_name: str, outputs: Sequence[OutputSpec], tuple_form: bool, result: Any) -> NodeOutput:
    if isinstance(result, NodeOutput):
        return result
    if isinstance(result, ExecutionBlocker):
        return NodeOutput((result,) * len(outputs))
    if isinstance(result, Result):
        return make_output(type_name, outputs, result.values, result.ui, result.expand)
    if not outputs:
        if result is not None:
            raise TypeError(f"node {type_name!r} declares no outputs (-> None) but returned {type(result).__name__}")
        return NodeOutput()
    if len(outputs) == 1 and not tuple_form:
        return make_output(type_name, outputs, (result,))
    if not isinstance(result, (tuple, list)):
        raise TypeError(f"node {type_name!r} returns {len(outputs)} output(s) as a tuple, got {type(result).__name__}")
    return make_output(type_name, outputs, result)


class _FunctionNode:
    """The executor's instance of a native node: stateless, it calls the function and normalises."""

    __slots__ = ("_fn", "_type_name", "_outputs", "_tuple_form", "_is_async", "_check_lazy", "_lazy_args")

    def __init__(
        self,
        fn: Callable[..., Any],
        type_name: str,
        outputs: tuple[OutputSpec, ...],
        tuple_form: bool,
        is_async: bool,
        check_lazy: Callable[..., Any] | None,
        lazy_args: frozenset[str] | None,
    ) -> None:
        self._fn = fn
        self._type_name = type_name
        self._outputs = outputs
        self._tuple_form = tuple_form
        self._is_async = is_async
        self._check_lazy = check_lazy
        self._lazy_args = lazy_args

    def run(self, **inputs: Any) -> Any:
        if self._is_async:
            return self._run_async(inputs)
        return _native_output(self._type_name, self._outputs, self._tuple_form, self._fn(**inputs))

    async def _run_async(self, inputs: dict[str, Any]) -> NodeOutput:
        return _native_output(self._type_name, self._outputs, self._tuple_form, await self._fn(**inputs))

    def check_lazy(self, **inputs: Any) -> list[str]:
        if self._check_lazy is None:
            return []
        return list(call_accepting(self._check_lazy, self._lazy_args, inputs) or [])
