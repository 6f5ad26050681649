"""/object_info rendering: the shape of ComfyUI reference 1.9, for native specs and V1 classes."""

import json
import logging
from typing import Annotated, Any

import pytest

from nodes.api import AnyType, Choices, Hidden, Image, Mask, Range, Widget, node, spec_of
from nodes.comfy import spec_from_comfy_class
from nodes.object_info import input_section, node_info, object_info
from tests.nodes.test_comfy_adapter import SAMPLERS, SCHEDULERS, KSamplerLike, ksampler_native

KEYS = [
    "input", "input_order", "output", "output_is_list", "output_name", "name", "display_name", "description",
    "python_module", "category", "output_node",
]


def test_ksampler_like_matches_reference_shape() -> None:
    info = node_info(spec_of(ksampler_native))
    assert list(info) == KEYS + ["output_tooltips"]
    required = info["input"]["required"]
    assert list(info["input"]) == ["required"]
    assert required["model"] == ["MODEL", {"tooltip": "The model used for denoising the input latent."}]
    assert required["seed"] == ["INT", {"default": 0, "min": 0, "max": 18446744073709551615,
                                        "control_after_generate": True,
                                        "tooltip": "The random seed used for creating the noise."}]
    assert required["cfg"] == ["FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01,
                                         "tooltip": "The Classifier-Free Guidance scale."}]
    assert required["sampler_name"] == [SAMPLERS, {"tooltip": "The sampling algorithm."}]
    assert required["scheduler"][0] == SCHEDULERS
    assert info["input_order"] == {"required": ["model", "seed", "steps", "cfg", "sampler_name", "scheduler",
                                                "positive", "negative", "latent_image", "denoise"]}
    assert (info["output"], info["output_is_list"], info["output_name"]) == (["LATENT"], [False], ["LATENT"])
    assert (info["name"], info["display_name"], info["python_module"], info["category"]) == (
        "KSampler", "KSampler", "nodes", "sampling",
    )
    assert info["output_node"] is False and info["output_tooltips"] == ["The denoised latent."]
    assert '"max": 18446744073709551615' in json.dumps(info)  # Python json, as ComfyUI serialises it


def test_v1_class_renders_its_own_input_types() -> None:
    info = node_info(spec_from_comfy_class("KSampler", KSamplerLike, python_module="nodes"))
    assert info["input"] == json.loads(json.dumps(KSamplerLike.INPUT_TYPES()))  # tuples become lists


def test_save_image_like_output_node_with_hidden_inputs() -> None:
    @node("SaveImageLike", category="image", output=True)
    def save(
        images: Image,
        filename_prefix: str = "ComfyUI",
        prompt: Annotated[Any, Hidden("PROMPT")] = None,
        extra_pnginfo: Annotated[Any, Hidden("EXTRA_PNGINFO")] = None,
    ) -> None:
        return None

    info = node_info(spec_of(save))
    assert list(info) == KEYS
    assert info["input"] == {
        "required": {"images": ["IMAGE"], "filename_prefix": ["STRING", {"default": "ComfyUI"}]},
        "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
    }
    assert info["input_order"] == {"required": ["images", "filename_prefix"], "hidden": ["prompt", "extra_pnginfo"]}
    assert (info["output"], info["output_is_list"], info["output_name"], info["output_node"]) == ([], [], [], True)


def test_sections_for_native_inputs() -> None:
    @node("Sections")
    def sections(
        required_data: Image,
        widget_default: Annotated[int, Range(0, 9)] = 1,
        optional_data: Mask | None = None,
        optional_widget: int | None = None,
        lazy: AnyType = None,
    ) -> None:
        return None

    spec = spec_of(sections)
    assert [input_section(spec, i) for i in spec.inputs] == ["required", "required", "optional", "optional", "optional"]
    info = node_info(spec)
    assert info["input"]["optional"] == {"optional_data": ["MASK"], "optional_widget": ["INT"], "lazy": ["*"]}


def test_choices_are_computed_at_render_time_and_failures_leave_the_node_out(caplog: Any) -> None:
    files = ["a.safetensors"]

    def broken() -> list[str]:
        raise OSError("models folder is gone")

    @node("Loader")
    def loader(name: Annotated[str, Choices(lambda: list(files)), Widget(tooltip="file")]) -> str:
        return name

    @node("BrokenLoader")
    def broken_loader(name: Annotated[str, Choices(broken)]) -> str:
        return name

    files.append("b.safetensors")
    assert node_info(spec_of(loader))["input"]["required"]["name"] == [files, {"tooltip": "file"}]
    with caplog.at_level(logging.ERROR):
        everything = object_info([spec_of(loader), spec_of(broken_loader)])
    assert list(everything) == ["Loader"]
    assert "BrokenLoader" in caplog.text
    with pytest.raises(OSError):
        node_info(spec_of(broken_loader))


def test_lazy_and_raw_link_options_are_rendered() -> None:
    class V1:
        @classmethod
        def INPUT_TYPES(cls) -> dict[str, Any]:
            return {"required": {"x": ("*", {"lazy": True}), "y": ("INT", {"rawLink": True, "forceInput": True})}}

        RETURN_TYPES = ()
        FUNCTION = "f"

        def f(self, x: Any, y: Any) -> None:
            return None

    info = node_info(spec_from_comfy_class("V1", V1))
    assert info["input"]["required"] == {
        "x": ["*", {"lazy": True}],
        "y": ["INT", {"forceInput": True, "rawLink": True}],
    }
