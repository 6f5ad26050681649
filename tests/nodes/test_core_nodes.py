"""Every core node, called directly as a function and once through its spec."""

import math
import sys
from typing import Any

import pytest

from graph.spec import NodeOutput
from nodes.api import spec_of
from nodes.builtin.core import LATENTLOOM_NODES
from nodes.builtin.core.arithmetic import float_math, int_math
from nodes.builtin.core.compare import float_compare, int_compare
from nodes.builtin.core.convert import float_to_int, int_to_float, to_string
from nodes.builtin.core.int_add import int_add
from nodes.builtin.core.preview_any import describe, preview_any
from nodes.builtin.core.primitives import (
    primitive_boolean,
    primitive_float,
    primitive_int,
    primitive_string,
    primitive_string_multiline,
)
from nodes.builtin.core.string_format import string_format
from nodes.builtin.core.strings import (
    string_concatenate,
    string_contains,
    string_length,
    string_replace,
    string_substring,
    string_trim,
)
from nodes.builtin.core.switch import needed_branch, switch


def test_primitives() -> None:
    assert primitive_int(5) == 5 and primitive_float(0.5) == 0.5 and primitive_boolean(True) is True
    assert primitive_string("a") == "a" and primitive_string_multiline("a\nb") == "a\nb"
    value = spec_of(primitive_int).input("value")
    assert value is not None and (value.min, value.max) == (-sys.maxsize, sys.maxsize)
    assert value.options == {"control_after_generate": True}
    assert [spec_of(f).inputs[0].name for f in (primitive_float, primitive_string, primitive_boolean)] == ["value"] * 3


def test_int_add_through_its_spec() -> None:
    assert int_add(2, 3) == 5
    assert spec_of(int_add).create().run(a=2, b=3) == NodeOutput((5,))
    assert spec_of(int_add).create().run() == NodeOutput((0,))


@pytest.mark.parametrize(
    ("operation", "a", "b", "expected"),
    [
        ("add", 7, 2, 9), ("subtract", 7, 2, 5), ("multiply", 7, 2, 14), ("divide", 7, 2, 3),
        ("divide", -7, 2, -4), ("modulo", 7, 3, 1), ("modulo", -7, 3, 2), ("power", 2, 10, 1024),
        ("min", 7, 2, 2), ("max", 7, 2, 7),
    ],
)
def test_int_math(operation: str, a: int, b: int, expected: int) -> None:
    assert int_math(a, b, operation) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("operation", "a", "b", "expected"),
    [
        ("add", 1.5, 2.0, 3.5), ("subtract", 1.5, 2.0, -0.5), ("multiply", 1.5, 2.0, 3.0),
        ("divide", 1.0, 4.0, 0.25), ("modulo", 5.5, 2.0, 1.5), ("power", 2.0, 0.5, math.sqrt(2)),
        ("min", 1.5, 2.0, 1.5), ("max", 1.5, 2.0, 2.0),
    ],
)
def test_float_math(operation: str, a: float, b: float, expected: float) -> None:
    assert float_math(a, b, operation) == pytest.approx(expected)  # type: ignore[arg-type]


def test_math_errors_are_clear() -> None:
    for fn, operation in [(int_math, "divide"), (int_math, "modulo"), (float_math, "divide"), (float_math, "modulo")]:
        with pytest.raises(ValueError, match="b is 0"):
            fn(1, 0, operation)
    with pytest.raises(ValueError, match="negative"):
        int_math(2, -1, "power")
    with pytest.raises(ValueError, match="bits"):
        int_math(10, 10**6, "power")
    assert int_math(1, 10**9, "power") == 1
    with pytest.raises(ValueError):
        float_math(-8.0, 1 / 3, "power")  # math.pow refuses instead of returning a complex number


def test_math_operations_are_the_combo_choices() -> None:
    from nodes.builtin.core.arithmetic import FLOAT_OPERATIONS, INT_OPERATIONS

    for fn, table in [(int_math, INT_OPERATIONS), (float_math, FLOAT_OPERATIONS)]:
        operation = spec_of(fn).input("operation")
        assert operation is not None and operation.choices == list(table) and operation.default == "add"


@pytest.mark.parametrize(
    ("operation", "expected"), [("==", False), ("!=", True), ("<", True), ("<=", True), (">", False), (">=", False)]
)
def test_comparisons(operation: str, expected: bool) -> None:
    assert int_compare(1, 2, operation) is expected  # type: ignore[arg-type]
    assert float_compare(1.0, 2.0, operation) is expected  # type: ignore[arg-type]
    assert spec_of(int_compare).outputs[0].type == "BOOLEAN"


def test_strings() -> None:
    assert string_concatenate("a", "b", ", ") == "a, b"
    assert string_replace("a-b-c", "-", "+") == "a+b+c"
    assert string_length("hello") == (5,) and spec_of(string_length).outputs[0].name == "length"
    assert spec_of(string_length).create().run(string="hey") == NodeOutput((3,))
    assert string_substring("abcdef", 1, 3) == "bc" and string_substring("abcdef", -2, 6) == "ef"
    assert string_contains("Hello", "ell") and not string_contains("Hello", "ELL")
    assert string_contains("Hello", "ELL", case_sensitive=False)
    assert spec_of(string_contains).outputs[0].name == "contains"
    assert [string_trim("  x  ", m) for m in ("Both", "Left", "Right")] == ["x", "x  ", "  x"]  # type: ignore[arg-type]
    names = [(i.name, i.type) for i in spec_of(string_concatenate).inputs]
    assert names == [("string_a", "STRING"), ("string_b", "STRING"), ("delimiter", "STRING")]


def test_string_format() -> None:
    assert string_format("{a} + {b} = {c:.2f}", a=1, b=2, c=3) == "1 + 2 = 3.00"
    assert string_format("{steps} steps", steps=20) == "20 steps"  # an extra linked input, by name
    assert spec_of(string_format).accepts_extra
    with pytest.raises(ValueError, match="not connected"):
        string_format("{b}", a=1)
    with pytest.raises(ValueError, match="plain input names"):
        string_format("{a.__class__}", a=1)
    with pytest.raises(ValueError, match="plain input names"):
        string_format("{a[0]}", a=[1])
    with pytest.raises(ValueError, match="too large"):
        string_format("{a:>100000000}", a=1)
    with pytest.raises(ValueError, match="too large"):
        string_format("{a:{b}}", a=1, b=">100000000")


def test_conversions() -> None:
    assert int_to_float(3) == 3.0 and isinstance(int_to_float(3), float)
    assert float_to_int(2.9) == 2 and float_to_int(-2.9) == -2
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="no integer value"):
            float_to_int(bad)
    assert to_string(12) == "12" and to_string(None) == "None"


def test_switch_is_lazy() -> None:
    spec = spec_of(switch)
    assert spec.has_lazy_check and [i.name for i in spec.inputs if i.lazy] == ["on_false", "on_true"]
    assert needed_branch(True) == ["on_true"] and needed_branch(False) == ["on_false"]
    assert needed_branch(True, on_true=1) == [] and needed_branch(False, on_false=0) == []
    instance = spec.create()
    assert instance.check_lazy(switch=True, on_false=None, on_true=None) == ["on_true"]
    assert instance.run(switch=True, on_false=None, on_true="yes") == NodeOutput(("yes",))
    assert switch(False, "no", None) == "no"
    assert spec.outputs[0].name == "output" and spec.outputs[0].type == "*"


class FakeTensor:
    """Duck-typed like a torch tensor: shape, dtype and device, but no torch."""

    shape = (1, 4, 8, 8)
    dtype = "torch.float32"
    device = "cpu"


def test_preview_any_describes_values_without_torch() -> None:
    assert describe("text") == "text" and describe(3) == "3" and describe(None) == "None" and describe(True) == "True"
    assert describe(FakeTensor()) == "FakeTensor(shape=[1, 4, 8, 8], dtype=torch.float32, device=cpu)"
    latent = describe({"samples": FakeTensor()})
    assert '"samples": "FakeTensor(shape=[1, 4, 8, 8]' in latent
    assert describe([1, 2]) == "[\n    1,\n    2\n]"
    assert describe({(1, 2): 3}).startswith("{(1, 2): 3")  # not JSON-able: repr
    assert describe("x" * 200_000).endswith("(truncated)")
    out = spec_of(preview_any).create().run(source={"a": 1})
    assert out == NodeOutput(('{\n    "a": 1\n}',), ui={"text": ['{\n    "a": 1\n}']})
    assert spec_of(preview_any).is_output and spec_of(preview_any).inputs[0].name == "source"


def test_every_core_node_has_a_category_and_renders() -> None:
    from nodes.object_info import node_info

    names = [spec_of(f).type_name for f in LATENTLOOM_NODES]
    assert len(names) == len(set(names)) == 22
    for fn in LATENTLOOM_NODES:
        info: dict[str, Any] = node_info(spec_of(fn))
        assert info["category"] != "sd" and info["python_module"] == "nodes", info["name"]
