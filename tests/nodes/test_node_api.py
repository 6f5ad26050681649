"""The native API: spec derivation from signatures, fix-it errors, result normalisation, GraphBuilder."""

import asyncio
import math
import re
from typing import Annotated, Any, Literal, NamedTuple

import pytest

from graph.spec import MISSING, ExecutionBlocker, HiddenSpec, InputSpec, NodeOutput, OutputSpec
from graph.workflow import Link, Workflow
from nodes.api import (
    AnyType,
    Choices,
    Conditioning,
    GraphBuilder,
    Hidden,
    Image,
    Latent,
    Lazy,
    ListOutput,
    Mask,
    Model,
    OutputInfo,
    Port,
    Range,
    RawLink,
    Result,
    Widget,
    make_output,
    node,
    spec_of,
)

# ---------------------------------------------------------------------------------------------------
# Spec derivation


def test_widget_types_and_defaults() -> None:
    @node("Widgets")
    def widgets(i: int, f: float = 1, s: str = "x", b: bool = False, c: Literal["a", "b"] = "b") -> int:
        return i

    spec = spec_of(widgets)
    assert [(i.name, i.type, i.required, i.default) for i in spec.inputs] == [
        ("i", "INT", True, MISSING),
        ("f", "FLOAT", False, 1.0),
        ("s", "STRING", False, "x"),
        ("b", "BOOLEAN", False, False),
        ("c", "COMBO", False, "b"),
    ]
    assert isinstance(spec.input("f").default, float)  # an int default of a FLOAT widget becomes a float
    assert spec.input("c").choices == ["a", "b"]
    assert spec.outputs == (OutputSpec("INT", "INT"),)


def test_data_ports_and_aliases() -> None:
    @node("Data")
    def data(
        image: Image,
        latent: Latent,
        model: Model,
        cond: Conditioning,
        custom: Annotated[Any, Port("MY_TYPE")],
        union: Annotated[Any, Port("FLOAT,INT")],
        anything: AnyType,
        mask: Mask | None = None,
    ) -> Image:
        return image

    spec = spec_of(data)
    assert [(i.name, i.type, i.required) for i in spec.inputs] == [
        ("image", "IMAGE", True),
        ("latent", "LATENT", True),
        ("model", "MODEL", True),
        ("cond", "CONDITIONING", True),
        ("custom", "MY_TYPE", True),
        ("union", "FLOAT,INT", True),
        ("anything", "*", True),
        ("mask", "MASK", False),
    ]
    assert spec.input("mask").default is MISSING  # data ports never show a UI default


def test_range_widget_lazy_rawlink_and_choices() -> None:
    files = ["a.safetensors", "b.safetensors"]

    def check(x: Any = None) -> list[str]:
        return []

    @node("Opts", check_lazy=check)
    def opts(
        seed: Annotated[int, Range(0, 2**64 - 1), Widget(control_after_generate=True, tooltip="seed")] = 0,
        cfg: Annotated[float, Range(0, 100, step=0.1, round=0.01)] = 8.0,
        text: Annotated[str, Widget(multiline=True, dynamic_prompts=True, force_input=True)] = "",
        x: Annotated[AnyType, Lazy()] = None,
        link: Annotated[AnyType, RawLink()] = None,
        static: Annotated[str, Choices(files)] = "a.safetensors",
        dynamic: Annotated[str, Choices(lambda: list(files))] = "whatever",
    ) -> None:
        return None

    spec = spec_of(opts)
    seed = spec.input("seed")
    assert (seed.min, seed.max, seed.options) == (0, 2**64 - 1, {"control_after_generate": True, "tooltip": "seed"})
    cfg = spec.input("cfg")
    assert (cfg.min, cfg.max, cfg.options) == (0.0, 100.0, {"step": 0.1, "round": 0.01})
    assert isinstance(cfg.min, float) and isinstance(cfg.max, float)
    assert spec.input("text").options == {"multiline": True, "dynamicPrompts": True, "forceInput": True}
    assert spec.input("x").lazy and not spec.input("x").raw_link
    assert spec.input("link").raw_link
    assert spec.input("static").choices == files
    files.append("c.safetensors")  # a provider is asked each time
    assert spec.input("dynamic").resolved_choices() == files
    assert spec.input("static").resolved_choices() == files[:2]
    assert spec.has_lazy_check and spec.outputs == ()


def test_hidden_inputs_are_not_ports() -> None:
    @node("WithHidden", output=True)
    def with_hidden(
        x: int = 0,
        prompt: Annotated[Any, Hidden("PROMPT")] = None,
        extra_pnginfo: Annotated[Any, Hidden("EXTRA_PNGINFO")] = None,
        unique_id: Annotated[str, Hidden("UNIQUE_ID")] = "",
        dynprompt: Annotated[Any, Hidden("DYNPROMPT")] = None,
    ) -> None:
        return None

    spec = spec_of(with_hidden)
    assert [i.name for i in spec.inputs] == ["x"]
    assert spec.hidden == (
        HiddenSpec("prompt", "PROMPT"),
        HiddenSpec("extra_pnginfo", "EXTRA_PNGINFO"),
        HiddenSpec("unique_id", "UNIQUE_ID"),
        HiddenSpec("dynprompt", "DYNPROMPT"),
    )
    assert spec.is_output


def test_outputs_from_tuple_namedtuple_list_and_info() -> None:
    class Pair(NamedTuple):
        image: Image
        count: Annotated[int, OutputInfo(tooltip="how many")]

    @node("Tup")
    def tup() -> tuple[Image, Annotated[Mask, OutputInfo(name="alpha", tooltip="1 - alpha")]]:
        return (1, 2)

    @node("Named")
    def named() -> Pair:
        return Pair(1, 2)

    @node("Lists")
    def lists() -> tuple[Annotated[list[int], ListOutput()], Annotated[list[Image], ListOutput()]]:
        return [1], [2]

    assert spec_of(tup).outputs == (OutputSpec("IMAGE", "IMAGE"), OutputSpec("alpha", "MASK", False, "1 - alpha"))
    assert spec_of(named).outputs == (OutputSpec("image", "IMAGE"), OutputSpec("count", "INT", False, "how many"))
    assert spec_of(lists).outputs == (OutputSpec("INT", "INT", True), OutputSpec("IMAGE", "IMAGE", True))


def test_input_is_list_unwraps_list_annotations() -> None:
    @node("Sum", input_is_list=True)
    def total(values: list[int], scale: list[float]) -> float:
        return sum(values) * scale[0]

    spec = spec_of(total)
    assert spec.input_is_list
    assert [(i.name, i.type) for i in spec.inputs] == [("values", "INT"), ("scale", "FLOAT")]


def test_decorator_keywords_become_fields() -> None:
    def validate(a: int, input_types: Any = None) -> bool | str:
        return True if a >= 0 else "a must be >= 0"

    def fingerprint(a: int) -> float:
        return float("nan")

    @node(
        "Everything",
        category="utils/test",
        display_name="Every Thing",
        output=True,
        not_idempotent=True,
        version="3",
        validate=validate,
        fingerprint=fingerprint,
        accepts_extra=True,
        deprecated=True,
        experimental=True,
        python_module="custom_nodes.pack",
    )
    def everything(a: int = 0, b: int = 0, **extra: Any) -> None:
        """First paragraph.

        Second paragraph."""
        return None

    spec = spec_of(everything)
    assert (spec.type_name, spec.category, spec.display_name, spec.description) == (
        "Everything", "utils/test", "Every Thing", "First paragraph.",
    )
    assert spec.is_output and spec.not_idempotent and spec.accepts_extra and spec.deprecated and spec.experimental
    assert (spec.version, spec.python_module) == ("3", "custom_nodes.pack")
    assert spec.validate_args == frozenset({"a"}) and spec.validate_types
    assert spec.validate(a=-1, b=5, input_types={"a": "INT"}) == "a must be >= 0"  # extra keywords dropped
    assert math.isnan(spec.fingerprint(a=1, b=2))
    assert not spec.is_async and not spec.input_is_list and not spec.has_lazy_check


def test_validate_with_kwargs_takes_everything() -> None:
    def validate(**kwargs: Any) -> bool:
        return True

    @node("V", validate=validate)
    def v(a: int = 0) -> int:
        return a

    assert spec_of(v).validate_args is None and not spec_of(v).validate_types


def test_function_stays_plain_and_bare_decorator_uses_name() -> None:
    @node
    def Doubler(x: int = 0) -> int:
        return 2 * x

    assert Doubler(4) == 8
    assert spec_of(Doubler).type_name == "Doubler"
    assert spec_of(spec_of(Doubler)) is spec_of(Doubler)
    with pytest.raises(TypeError, match="not a node; decorate it with @node"):
        spec_of(len)


def test_closure_annotations_resolve() -> None:
    def make() -> Any:
        LocalPort = Annotated[Any, Port("LOCAL")]

        @node("Closure")
        def closure(x: LocalPort) -> LocalPort:  # type: ignore[valid-type]
            return x

        return closure

    assert spec_of(make()).inputs[0].type == "LOCAL"


# ---------------------------------------------------------------------------------------------------
# Fix-it errors: name the node, the function and the parameter


def _fails(pattern: str, fn: Any, **options: Any) -> None:
    with pytest.raises(TypeError, match=pattern):
        node("Broken", **options)(fn)


def test_missing_type_hint_names_node_function_and_parameter() -> None:
    def f(a: int, b) -> int:  # type: ignore[no-untyped-def]
        return a

    with pytest.raises(TypeError) as info:
        node("Broken")(f)
    message = str(info.value)
    assert "'Broken'" in message and "test_missing_type_hint_names_node_function_and_parameter.<locals>.f" in message
    assert "parameter 'b'" in message and "missing type hint" in message and "Please add one to fix" in message


def test_missing_return_annotation() -> None:
    def f(a: int):  # type: ignore[no-untyped-def]
        return a

    _fails(r"missing return annotation.*-> None", f)


@pytest.mark.parametrize(
    ("annotation", "pattern"),
    [
        (dict, "unknown annotation"),
        (Any, "use AnyType"),
        (int | str, "union is not a port type"),
        (Annotated[int, "doc"], "not allowed on inputs"),
        (Annotated[int, ListOutput()], "not allowed on inputs"),
        (Annotated[str, Range(0, 1)], "Range\\(\\) applies to INT and FLOAT"),
        (Annotated[int, Choices(["a"])], "Choices\\(\\) applies to str"),
        (Literal[b"x"], "Literal choices must be strings or numbers"),
    ],
)
def test_bad_input_annotations(annotation: Any, pattern: str) -> None:
    def f(x: int) -> int:
        return x

    f.__annotations__["x"] = annotation
    _fails(pattern, f)


@pytest.mark.parametrize(
    ("annotation", "default", "pattern"),
    [
        (int, "1", "not a valid INT"),
        (int, True, "not a valid INT"),
        (int, 1.5, "not a valid INT"),
        (float, "x", "not a valid FLOAT"),
        (bool, 1, "not a valid BOOLEAN"),
        (str, 3, "not a valid STRING"),
        (Literal["a", "b"], "c", "not one of the choices"),
        (Annotated[int, Range(0, 10)], 11, "outside Range"),
        (int, None, "default None needs an optional type"),
    ],
)
def test_bad_defaults(annotation: Any, default: Any, pattern: str) -> None:
    def f(x: int = 0) -> int:
        return x

    f.__annotations__["x"] = annotation
    f.__defaults__ = (default,)
    _fails(pattern, f)


def test_bad_outputs() -> None:
    def variadic() -> tuple[int, ...]:
        return (1,)

    def lazy_out() -> Annotated[int, Lazy()]:
        return 1

    def not_a_list() -> Annotated[int, ListOutput()]:
        return 1

    _fails("has no fixed outputs", variadic)
    _fails("not allowed on outputs", lazy_out)
    _fails("ListOutput\\(\\) needs", not_a_list)


def test_inconsistent_options() -> None:
    def lazy(x: Annotated[int, Lazy()] = 0) -> int:
        return x

    def plain(x: int = 0) -> int:
        return x

    def kwargs(x: int = 0, **rest: Any) -> int:
        return x

    def star(*xs: int) -> int:
        return 0

    def unknown_validate_arg(y: int) -> bool:
        return True

    _fails("are Lazy\\(\\); pass check_lazy=", lazy)
    _fails("no input is Lazy", plain, check_lazy=lambda x: [])
    _fails("pass accepts_extra=True", kwargs)
    _fails("needs a `\\*\\*kwargs` parameter", plain, accepts_extra=True)
    _fails("\\*args cannot be a port", star)
    _fails(re.escape("takes ['y'], which are not inputs"), plain, validate=unknown_validate_arg)
    _fails("fingerprint= must be a function", plain, fingerprint=3)


def test_marker_misuse_is_caught_at_construction() -> None:
    with pytest.raises(TypeError, match="unknown kind"):
        Hidden("SECRET")
    with pytest.raises(TypeError, match="give the parameter a Python default"):
        Widget(default=3)
    with pytest.raises(TypeError, match="use Range"):
        Widget(min=0)
    with pytest.raises(TypeError, match="min is greater than max"):
        Range(10, 0)
    with pytest.raises(TypeError, match="non-empty string"):
        Port("")


# ---------------------------------------------------------------------------------------------------
# Running and normalisation


def _run(fn: Any, **inputs: Any) -> Any:
    return spec_of(fn).create().run(**inputs)


def test_run_normalises_every_return_shape() -> None:
    @node("One")
    def one(x: int = 0) -> int:
        return x + 1

    @node("Two")
    def two(x: int = 0) -> tuple[int, int]:
        return x, -x

    @node("TwoList")
    def two_list(x: int = 0) -> tuple[int, int]:
        return [x, x]  # type: ignore[return-value]

    @node("WithUi")
    def with_ui(x: int = 0) -> int:
        return Result(x, ui={"text": [str(x)]})  # type: ignore[return-value]

    @node("Blocked")
    def blocked(x: int = 0) -> tuple[int, int]:
        return ExecutionBlocker("no")  # type: ignore[return-value]

    @node("Direct")
    def direct(x: int = 0) -> int:
        return NodeOutput((7,))  # type: ignore[return-value]

    @node("Nothing", output=True)
    def nothing(x: int = 0) -> None:
        return None

    assert _run(one, x=1) == NodeOutput((2,))
    assert _run(two, x=3) == NodeOutput((3, -3))
    assert _run(two_list, x=3) == NodeOutput((3, 3))
    assert _run(with_ui, x=5) == NodeOutput((5,), ui={"text": ["5"]})
    out = _run(blocked)
    assert len(out.values) == 2 and all(isinstance(v, ExecutionBlocker) and v.message == "no" for v in out.values)
    assert _run(direct) == NodeOutput((7,))
    assert _run(nothing) == NodeOutput()


def test_single_output_keeps_a_tuple_value_whole() -> None:
    @node("TupleValue")
    def tuple_value() -> AnyType:
        return (1, 2)

    assert _run(tuple_value) == NodeOutput(((1, 2),))


def test_one_item_tuple_and_namedtuple_returns_are_unpacked() -> None:
    class Only(NamedTuple):
        length: int

    @node("OneTuple")
    def one_tuple() -> tuple[int]:
        return (5,)

    @node("OneNamed")
    def one_named() -> Only:
        return Only(6)

    assert _run(one_tuple) == NodeOutput((5,))
    assert _run(one_named) == NodeOutput((6,))
    assert spec_of(one_named).outputs == (OutputSpec("length", "INT"),)


def test_run_rejects_bad_results() -> None:
    @node("TooMany")
    def too_many() -> tuple[int, int]:
        return Result(1, 2, 3)  # type: ignore[return-value]

    @node("NotTuple")
    def not_tuple() -> tuple[int, int]:
        return 1  # type: ignore[return-value]

    @node("Valued", output=True)
    def valued() -> None:
        return 1  # type: ignore[return-value]

    @node("BadUi")
    def bad_ui() -> int:
        return Result(1, ui=["x"])  # type: ignore[arg-type,return-value]

    @node("BadList")
    def bad_list() -> Annotated[list[int], ListOutput()]:
        return 5  # type: ignore[return-value]

    for fn, pattern in [
        (too_many, "returned 3 value\\(s\\) for 2 output\\(s\\)"),
        (not_tuple, "returns 2 output\\(s\\) as a tuple"),
        (valued, "declares no outputs"),
        (bad_ui, "ui must be a dict"),
        (bad_list, "is a list output \\(OUTPUT_IS_LIST\\); return a list"),
    ]:
        with pytest.raises(TypeError, match=pattern):
            _run(fn)


def test_list_outputs_accept_tuples() -> None:
    @node("Tuples")
    def tuples() -> Annotated[list[int], ListOutput()]:
        return (1, 2)  # type: ignore[return-value]

    assert _run(tuples) == NodeOutput(([1, 2],))


def test_expand_converts_links_and_builders() -> None:
    @node("Expands")
    def expands(x: int = 0) -> tuple[int, int]:
        b = GraphBuilder()
        a = b.node("Add", a=x, b=1)
        return Result(a.out(0), ["1", 0], expand=b)  # type: ignore[return-value]

    out = _run(expands, x=2)
    assert out.values == (Link("1", 0), Link("1", 0))
    assert out.expand == {"1": {"class_type": "Add", "inputs": {"a": 2, "b": 1}}}
    with pytest.raises(TypeError, match="expand must be"):
        make_output("X", (OutputSpec("INT", "INT"),), (1,), expand=["not", "a", "graph"])


def test_async_node_returns_an_awaitable() -> None:
    @node("Async")
    async def async_node(x: int = 0) -> int:
        await asyncio.sleep(0)
        return x * 10

    spec = spec_of(async_node)
    assert spec.is_async
    pending = spec.create().run(x=4)
    assert asyncio.run(pending) == NodeOutput((40,))


def test_check_lazy_receives_only_what_it_names() -> None:
    seen: list[dict[str, Any]] = []

    def needed(cond: bool, on_true: Any = None) -> list[str] | None:
        seen.append({"cond": cond, "on_true": on_true})
        return ["on_true"] if cond and on_true is None else None

    @node("Lz", check_lazy=needed)
    def lz(cond: bool, on_true: Annotated[AnyType, Lazy()], on_false: Annotated[AnyType, Lazy()]) -> AnyType:
        return on_true if cond else on_false

    instance = spec_of(lz).create()
    assert instance.check_lazy(cond=True, on_true=None, on_false=None) == ["on_true"]
    assert instance.check_lazy(cond=False, on_true=None, on_false=None) == []
    assert seen == [{"cond": True, "on_true": None}, {"cond": False, "on_true": None}]

    @node("NoLazy")
    def no_lazy(x: int = 0) -> int:
        return x

    assert spec_of(no_lazy).create().check_lazy(x=1) == []


# ---------------------------------------------------------------------------------------------------
# GraphBuilder


def test_graph_builder_writes_api_format_with_deterministic_ids() -> None:
    b = GraphBuilder()
    one = b.node("PrimitiveInt", value=1)
    add = b.node("IntAdd", a=one.out(0), b=one)  # a handle links its slot 0
    b.node("PreviewAny", node_id="out", source=add.out(0))
    b.node("Lists", values=[1, 2], pair=(3, 4), nested={"k": 1})
    assert b.to_api() == {
        "1": {"class_type": "PrimitiveInt", "inputs": {"value": 1}},
        "2": {"class_type": "IntAdd", "inputs": {"a": ["1", 0], "b": ["1", 0]}},
        "out": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}},
        "3": {"class_type": "Lists", "inputs": {"values": {"__value__": [1, 2]}, "pair": {"__value__": [3, 4]},
                                                  "nested": {"k": 1}}},
    }
    workflow = b.workflow()
    assert isinstance(workflow, Workflow) and workflow.to_api() == b.to_api()
    assert "out" in b and len(b) == 4 and b.lookup("2") is add and b.lookup("nope") is None


def test_graph_builder_prefix_collisions_and_independence() -> None:
    b = GraphBuilder(prefix="7.0.")
    first = b.node("A", node_id="7.0.1")
    second = b.node("A")
    assert (first.id, second.id) == ("7.0.1", "7.0.2")
    with pytest.raises(ValueError, match="already in this graph"):
        b.node("A", node_id="7.0.1")
    second.set_input("x", 3)
    assert b.to_api()["7.0.2"]["inputs"] == {"x": 3}
    assert GraphBuilder().node("A").id == "1" and GraphBuilder().node("A").id == "1"  # no shared counter


def test_input_spec_shape_is_the_graph_contract() -> None:
    @node("Shape")
    def shape(a: Annotated[int, Range(-5, 5)] = 1) -> int:
        return a

    assert spec_of(shape).inputs == (InputSpec("a", "INT", False, 1, -5, 5),)
