"""The ComfyUI V1 class adapter: reading classes, capabilities, result normalisation, and equivalence
with the native API."""

import asyncio
import dataclasses
import json
import math
from typing import Annotated, Any

import pytest

from graph.spec import ExecutionBlocker, HiddenSpec, InputSpec, NodeOutput, NodeSpec, OutputSpec
from graph.workflow import Link
from nodes.api import Choices, Conditioning, Hidden, Latent, Model, OutputInfo, Range, Widget, node, spec_of
from nodes.comfy import ComfyChoices, normalize_comfy_result, spec_from_comfy_class, specs_from_mappings
from nodes.object_info import node_info

SAMPLERS = ["euler", "euler_ancestral", "dpmpp_2m"]
SCHEDULERS = ["simple", "normal", "karras"]


class KSamplerLike:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model": ("MODEL", {"tooltip": "The model used for denoising the input latent."}),
                "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF, "control_after_generate": True,
                                 "tooltip": "The random seed used for creating the noise."}),
                "steps": ("INT", {"default": 20, "min": 1, "max": 10000, "tooltip": "The number of steps."}),
                "cfg": ("FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01,
                                  "tooltip": "The Classifier-Free Guidance scale."}),
                "sampler_name": (SAMPLERS, {"tooltip": "The sampling algorithm."}),
                "scheduler": (SCHEDULERS, {"tooltip": "The scheduler."}),
                "positive": ("CONDITIONING", {"tooltip": "What to include."}),
                "negative": ("CONDITIONING", {"tooltip": "What to exclude."}),
                "latent_image": ("LATENT", {"tooltip": "The latent image to denoise."}),
                "denoise": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01,
                                      "tooltip": "The amount of denoising applied."}),
            }
        }

    RETURN_TYPES = ("LATENT",)
    OUTPUT_TOOLTIPS = ("The denoised latent.",)
    FUNCTION = "sample"
    CATEGORY = "sampling"
    DESCRIPTION = "Uses the provided model, positive and negative conditioning to denoise the latent image."

    def sample(self, model: Any, seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str,
               positive: Any, negative: Any, latent_image: Any, denoise: float = 1.0) -> tuple[Any]:
        return ({"samples": (model, seed, steps, cfg, sampler_name, scheduler, denoise)},)


@node("KSampler", category="sampling",
      description="Uses the provided model, positive and negative conditioning to denoise the latent image.")
def ksampler_native(
    model: Annotated[Model, Widget(tooltip="The model used for denoising the input latent.")],
    *,
    seed: Annotated[int, Range(0, 0xFFFFFFFFFFFFFFFF),
                    Widget(control_after_generate=True, tooltip="The random seed used for creating the noise.")] = 0,
    steps: Annotated[int, Range(1, 10000), Widget(tooltip="The number of steps.")] = 20,
    cfg: Annotated[float, Range(0.0, 100.0, step=0.1, round=0.01),
                   Widget(tooltip="The Classifier-Free Guidance scale.")] = 8.0,
    sampler_name: Annotated[str, Choices(SAMPLERS), Widget(tooltip="The sampling algorithm.")],
    scheduler: Annotated[str, Choices(SCHEDULERS), Widget(tooltip="The scheduler.")],
    positive: Annotated[Conditioning, Widget(tooltip="What to include.")],
    negative: Annotated[Conditioning, Widget(tooltip="What to exclude.")],
    latent_image: Annotated[Latent, Widget(tooltip="The latent image to denoise.")],
    denoise: Annotated[float, Range(0.0, 1.0, step=0.01), Widget(tooltip="The amount of denoising applied.")] = 1.0,
) -> Annotated[Latent, OutputInfo(tooltip="The denoised latent.")]:
    return {"samples": None}


def _resolved(inputs: tuple[InputSpec, ...]) -> tuple[InputSpec, ...]:
    return tuple(dataclasses.replace(i, choices=i.resolved_choices()) for i in inputs)


def test_native_and_v1_twins_give_equal_specs_and_identical_object_info() -> None:
    v1 = spec_from_comfy_class("KSampler", KSamplerLike, python_module="nodes")
    native = spec_of(ksampler_native)
    assert isinstance(v1.input("sampler_name").choices, ComfyChoices)
    assert _resolved(v1.inputs) == _resolved(native.inputs)
    assert v1.outputs == native.outputs
    assert node_info(v1) == node_info(native)
    assert json.dumps(node_info(v1), sort_keys=True) == json.dumps(node_info(native), sort_keys=True)


def test_v1_inputs_required_optional_hidden_and_options() -> None:
    class Node:
        @classmethod
        def INPUT_TYPES(cls) -> dict[str, Any]:
            return {
                "required": {
                    "image": ("IMAGE",),
                    "count": ("INT", {"default": 1, "min": 1, "max": 8, "display": "slider"}),
                    "mode": ("COMBO", {"options": ["a", "b"], "default": "a", "multi_select": False}),
                    "text": ("STRING", {"multiline": True, "dynamicPrompts": True}),
                    "lazy_in": ("*", {"lazy": True}),
                    "raw": ("INT", {"rawLink": True}),
                },
                "optional": {"mask": ("MASK",), "strength": ("FLOAT", {"default": 0.5})},
                "hidden": {"prompt": "PROMPT", "unique_id": ["UNIQUE_ID"]},
            }

        RETURN_TYPES = ()
        FUNCTION = "run"

        def run(self, **kwargs: Any) -> None:
            return None

    spec = spec_from_comfy_class("Node", Node, python_module="custom_nodes.p")
    by = {i.name: i for i in spec.inputs}
    assert by["image"] == InputSpec("image", "IMAGE", True)
    assert (by["count"].required, by["count"].default, by["count"].min, by["count"].max) == (False, 1, 1, 8)
    assert by["count"].options == {"display": "slider"}
    assert by["mode"].type == "COMBO" and by["mode"].resolved_choices() == ["a", "b"]
    assert by["mode"].options == {"multi_select": False}
    assert by["text"].required and by["text"].options == {"multiline": True, "dynamicPrompts": True}
    assert by["lazy_in"].lazy and by["raw"].raw_link
    assert not by["mask"].required and by["strength"].default == 0.5
    assert spec.hidden == (HiddenSpec("prompt", "PROMPT"), HiddenSpec("unique_id", "UNIQUE_ID"))
    assert spec.outputs == () and spec.accepts_extra  # run takes **kwargs
    info = node_info(spec)
    mode = ["COMBO", {"default": "a", "options": ["a", "b"], "multi_select": False}]
    assert info["input"]["required"]["mode"] == mode
    assert info["input"]["optional"] == {"mask": ["MASK"], "strength": ["FLOAT", {"default": 0.5}]}
    assert info["input"]["hidden"] == {"prompt": "PROMPT", "unique_id": "UNIQUE_ID"}
    assert info["input_order"] == {
        "required": ["image", "count", "mode", "text", "lazy_in", "raw"],
        "optional": ["mask", "strength"],
        "hidden": ["prompt", "unique_id"],
    }


def test_v1_combo_choices_are_reread_each_time() -> None:
    files = ["a.ckpt"]

    class Loader:
        @classmethod
        def INPUT_TYPES(cls) -> dict[str, Any]:
            return {"required": {"ckpt_name": (list(files),)}}

        RETURN_TYPES = ("MODEL",)
        FUNCTION = "load"

        def load(self, ckpt_name: str) -> tuple[str]:
            return (ckpt_name,)

    spec = spec_from_comfy_class("Loader", Loader)
    files.append("b.ckpt")
    assert spec.input("ckpt_name").resolved_choices() == ["a.ckpt", "b.ckpt"]
    assert node_info(spec)["input"]["required"]["ckpt_name"] == [["a.ckpt", "b.ckpt"]]
    assert spec.python_module == f"custom_nodes.{__name__.split('.')[0]}"


def test_v1_outputs_and_flags() -> None:
    class Flags:
        @classmethod
        def INPUT_TYPES(cls) -> dict[str, Any]:
            return {"required": {"x": ("INT", {"default": 0})}}

        RETURN_TYPES = ("IMAGE", "INT", SAMPLERS, [])
        RETURN_NAMES = ("image", "count", "sampler", "any")
        OUTPUT_IS_LIST = (False, True, False, False)
        OUTPUT_TOOLTIPS = ("the image", None, None, None)
        FUNCTION = "go"
        CATEGORY = "fixture/flags"
        OUTPUT_NODE = True
        INPUT_IS_LIST = True
        NOT_IDEMPOTENT = True
        DESCRIPTION = "flags"
        DEPRECATED = True
        EXPERIMENTAL = True
        API_NODE = True
        RELATIVE_PYTHON_MODULE = "custom_nodes.flags"

        async def go(self, x: list[int]) -> tuple[Any, ...]:
            return (None, x, "euler", None)

        def check_lazy_status(self, x: Any) -> list[str]:
            return []

    spec = spec_from_comfy_class("Flags", Flags, display_name="All Flags")
    assert spec.outputs == (
        OutputSpec("image", "IMAGE", False, "the image"),
        OutputSpec("count", "INT", True),
        OutputSpec("sampler", "COMBO"),
        OutputSpec("any", "*"),
    )
    assert spec.is_output and spec.input_is_list and spec.not_idempotent and spec.is_async and spec.has_lazy_check
    assert spec.deprecated and spec.experimental and not spec.accepts_extra
    assert (spec.category, spec.description, spec.display_name, spec.python_module) == (
        "fixture/flags", "flags", "All Flags", "custom_nodes.flags",
    )
    info = node_info(spec)
    assert info["output_tooltips"] == ["the image", None, None, None]
    assert info["deprecated"] and info["experimental"] and info["api_node"]
    result = asyncio.run(spec.create().run(x=[1, 2]))
    assert result == NodeOutput((None, [1, 2], "euler", None))
    filled = asyncio.run(spec.create().run())  # the required default is filled in, as a list (INPUT_IS_LIST)
    assert filled.values[1] == [0]


def test_v1_defaults_fill_missing_required_widgets_only() -> None:
    seen: list[dict[str, Any]] = []

    class Defaults:
        @classmethod
        def INPUT_TYPES(cls) -> dict[str, Any]:
            return {"required": {"a": ("INT", {"default": 3})}, "optional": {"b": ("INT", {"default": 4})}}

        RETURN_TYPES = ("INT",)
        FUNCTION = "f"

        def f(self, a: int, b: int = 100) -> tuple[int]:
            seen.append({"a": a, "b": b})
            return (a + b,)

    spec = spec_from_comfy_class("Defaults", Defaults)
    assert not spec.input("a").required
    assert spec.create().run() == NodeOutput((103,))  # optional inputs keep the Python default, as in ComfyUI
    assert spec.create().run(a=1, b=1) == NodeOutput((2,))


def test_validate_inputs_and_is_changed() -> None:
    class Hooks:
        @classmethod
        def INPUT_TYPES(cls) -> dict[str, Any]:
            return {"required": {"a": ("INT", {"default": 0}), "b": ("STRING",)}}

        RETURN_TYPES = ("INT",)
        FUNCTION = "f"

        @classmethod
        def VALIDATE_INPUTS(cls, a: int, input_types: Any = None) -> bool | str:
            return True if a >= 0 else f"a={a} is negative ({input_types})"

        def IS_CHANGED(s, b: str) -> str:  # no @classmethod: ComfyUI packs forget it
            return b.upper()

        def f(self, a: int, b: str) -> tuple[int]:
            return (a,)

    spec = spec_from_comfy_class("Hooks", Hooks)
    assert spec.validate_args == frozenset({"a"}) and spec.validate_types
    assert spec.validate(a=-1, b="x", input_types={"a": "INT"}) == "a=-1 is negative ({'a': 'INT'})"
    assert spec.validate(b="x") is True  # the required default of a is filled in
    assert spec.fingerprint(a=1, b="abc") == "ABC"

    class KwHooks(Hooks):
        @classmethod
        def VALIDATE_INPUTS(cls, **kwargs: Any) -> bool:
            return True

        @classmethod
        def IS_CHANGED(cls, **kwargs: Any) -> float:
            return float("nan")

    spec = spec_from_comfy_class("KwHooks", KwHooks)
    assert spec.validate_args is None and not spec.validate_types
    assert math.isnan(spec.fingerprint(a=1, b="x"))


def test_check_lazy_status_is_called_on_the_instance() -> None:
    class Lazy:
        @classmethod
        def INPUT_TYPES(cls) -> dict[str, Any]:
            return {"required": {"cond": ("BOOLEAN",), "x": ("*", {"lazy": True})}}

        RETURN_TYPES = ("*",)
        FUNCTION = "f"

        def check_lazy_status(self, cond: bool, x: Any = None) -> list[str] | None:
            return ["x"] if cond and x is None else None

        def f(self, cond: bool, x: Any = None) -> tuple[Any]:
            return (x,)

    instance = spec_from_comfy_class("Lazy", Lazy).create()
    assert instance.check_lazy(cond=True, x=None) == ["x"]
    assert instance.check_lazy(cond=False, x=None) == []


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ((1, 2), NodeOutput((1, 2))),
        ([1, 2], NodeOutput((1, 2))),
        ((1, 2, 3), NodeOutput((1, 2))),  # extra values are dropped, as ComfyUI never reads them
        (None, NodeOutput()),
        ({"ui": {"text": ["hi"]}}, NodeOutput((), ui={"text": ["hi"]})),
        ({"ui": {"text": ["hi"]}, "result": (1, 2)}, NodeOutput((1, 2), ui={"text": ["hi"]})),
        ({"result": (["5", 0], 2), "expand": {"5": {"class_type": "A", "inputs": {}}}},
         NodeOutput((Link("5", 0), 2), expand={"5": {"class_type": "A", "inputs": {}}})),
        (NodeOutput((9, 9)), NodeOutput((9, 9))),
    ],
)
def test_normalize_every_return_shape(result: Any, expected: NodeOutput) -> None:
    outputs = (OutputSpec("A", "INT"), OutputSpec("B", "INT"))
    assert normalize_comfy_result("N", outputs, result) == expected


def test_normalize_blocker_and_errors() -> None:
    outputs = (OutputSpec("A", "INT"), OutputSpec("B", "INT", is_list=True))
    blocked = normalize_comfy_result("N", outputs, ExecutionBlocker(None))
    assert len(blocked.values) == 2 and all(isinstance(v, ExecutionBlocker) for v in blocked.values)
    assert normalize_comfy_result("N", outputs, (1, (2, 3))) == NodeOutput((1, [2, 3]))
    with pytest.raises(TypeError, match="V1 nodes return a tuple"):
        normalize_comfy_result("N", outputs, "a string")
    with pytest.raises(TypeError, match="returned 1 value"):
        normalize_comfy_result("N", outputs, (1,))
    with pytest.raises(TypeError, match="'result' of a returned dict must be a tuple"):
        normalize_comfy_result("N", outputs, {"result": 5})


def _cls(**attrs: Any) -> type:
    base: dict[str, Any] = {
        "INPUT_TYPES": classmethod(lambda cls: {"required": {}}),
        "RETURN_TYPES": ("INT",),
        "FUNCTION": "f",
        "f": lambda self: (1,),
    }
    base.update(attrs)
    return type("Custom", (), base)


@pytest.mark.parametrize(
    ("attrs", "pattern"),
    [
        ({"FUNCTION": "nope"}, "FUNCTION = 'nope' names no method"),
        ({"FUNCTION": None}, "FUNCTION must name the method"),
        ({"RETURN_TYPES": "INT"}, "RETURN_TYPES must be a tuple"),
        ({"RETURN_NAMES": ("a", "b")}, "RETURN_NAMES must have one entry per RETURN_TYPES entry"),
        ({"OUTPUT_IS_LIST": (True, False)}, "OUTPUT_IS_LIST must have one entry"),
        ({"INPUT_TYPES": classmethod(lambda cls: [])}, "INPUT_TYPES\\(\\) must return a dict"),
        ({"INPUT_TYPES": classmethod(lambda cls: 1 / 0)}, "INPUT_TYPES\\(\\) raised ZeroDivisionError"),
        ({"INPUT_TYPES": classmethod(lambda cls: {"required": {"x": 5}})}, "must be a tuple like"),
        ({"INPUT_TYPES": classmethod(lambda cls: {"required": {"x": ("INT", 5)}})}, "the options must be a dict"),
        ({"INPUT_TYPES": classmethod(lambda cls: {"required": {"x": (5,)}})}, "must be a string or a list"),
    ],
)
def test_broken_classes_raise_with_the_attribute_to_fix(attrs: dict[str, Any], pattern: str) -> None:
    with pytest.raises(TypeError, match=pattern) as info:
        spec_from_comfy_class("Custom", _cls(**attrs))
    assert "ComfyUI node 'Custom'" in str(info.value)


def test_not_a_class_and_misspellings() -> None:
    with pytest.raises(TypeError, match="must be classes"):
        spec_from_comfy_class("X", object())  # type: ignore[arg-type]
    warnings: list[str] = []
    spec = spec_from_comfy_class(
        "Typo",
        _cls(OUTPUT_NODES=True, IS_CHANGE=lambda: 1, INPUT_TYPES=classmethod(lambda c: {"requird": {}})),
        warn=warnings.append,
    )
    assert not spec.is_output and spec.fingerprint is None
    assert any("'OUTPUT_NODES' looks like a misspelling of 'OUTPUT_NODE'" in w for w in warnings)
    assert any("'IS_CHANGE' looks like a misspelling of 'IS_CHANGED'" in w for w in warnings)
    assert any("sections ['requird'] are ignored" in w for w in warnings)


def test_specs_from_mappings_isolates_broken_classes() -> None:
    specs, failures = specs_from_mappings(
        {"Good": _cls(), "Bad": _cls(FUNCTION="nope")}, {"Good": "Good Node"}, "custom_nodes.p"
    )
    assert [s.type_name for s in specs] == ["Good"] and specs[0].display_name == "Good Node"
    assert failures and failures[0][0] == "Bad" and "names no method" in failures[0][1]
    assert isinstance(specs[0], NodeSpec) and specs[0].create().run() == NodeOutput((1,))


def test_hidden_inputs_reach_the_function() -> None:
    class WithHidden:
        @classmethod
        def INPUT_TYPES(cls) -> dict[str, Any]:
            return {"required": {}, "hidden": {"unique_id": "UNIQUE_ID"}}

        RETURN_TYPES = ("STRING",)
        FUNCTION = "f"

        def f(self, unique_id: str | None = None) -> tuple[Any]:
            return (unique_id,)

    @node("NativeHidden")
    def native_hidden(unique_id: Annotated[str, Hidden("UNIQUE_ID")] = "") -> str:
        return unique_id

    v1 = spec_from_comfy_class("WithHidden", WithHidden)
    assert v1.hidden == spec_of(native_hidden).hidden
    assert v1.create().run(unique_id="7") == NodeOutput(("7",))
    assert v1.input("nothing") is None and v1.inputs == ()
