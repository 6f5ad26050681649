"""NodeSpecs and workflows for graph tests, built from graph.spec alone (no nodes/, no torch).

The six text-to-image specs mirror ComfyUI's core nodes (names, input names, types and ranges of
comfyui-reference 7.1); ``txt2img()`` is the reference's minimal API-format workflow with ids 3..9.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

from graph.spec import InputSpec, NodeSpec, OutputSpec
from graph.workflow import Workflow


class _NotRunnable:
    """Validation never runs nodes; a test that does gets a clear failure."""

    def run(self, **inputs: Any) -> Any:
        raise AssertionError("validation must not run nodes")

    def check_lazy(self, **inputs: Any) -> Sequence[str]:
        raise AssertionError("validation must not run nodes")


class DictRegistry:
    """A registry over a fixed set of specs; it also lists its type names (for "did you mean")."""

    def __init__(self, *specs: NodeSpec) -> None:
        self._specs = {spec.type_name: spec for spec in specs}

    def spec(self, type_name: str) -> NodeSpec | None:
        return self._specs.get(type_name)

    def type_names(self) -> Iterable[str]:
        return list(self._specs)


class SpecOnlyRegistry:
    """A registry with nothing but ``spec`` (the minimal :class:`graph.spec.Registry`)."""

    def __init__(self, *specs: NodeSpec) -> None:
        self._specs = {spec.type_name: spec for spec in specs}

    def spec(self, type_name: str) -> NodeSpec | None:
        return self._specs.get(type_name)


def make_spec(type_name: str, inputs: Sequence[InputSpec] = (), outputs: Sequence[str] = (), **flags: Any) -> NodeSpec:
    """A spec with outputs given by type (named after their type, lower case)."""
    return NodeSpec(
        type_name=type_name,
        inputs=tuple(inputs),
        outputs=tuple(OutputSpec(t.lower(), t) for t in outputs),
        create=_NotRunnable,
        **flags,
    )


CHECKPOINTS = ["v1-5-pruned-emaonly.safetensors", "sd_xl_base_1.0.safetensors"]
SAMPLERS = ["euler", "euler_ancestral", "dpmpp_2m"]
SCHEDULERS = ["normal", "karras", "simple"]
CKPT_TOOLTIP = "The name of the checkpoint (model) to load."


def txt2img_specs(checkpoints: Sequence[str] | None = None) -> list[NodeSpec]:
    """CheckpointLoaderSimple, CLIPTextEncode, EmptyLatentImage, KSampler, VAEDecode, SaveImage."""
    files = list(CHECKPOINTS if checkpoints is None else checkpoints)
    tip = {"tooltip": CKPT_TOOLTIP}
    return [
        make_spec("CheckpointLoaderSimple", [InputSpec("ckpt_name", "COMBO", choices=lambda: files, options=tip)],
                  ["MODEL", "CLIP", "VAE"]),
        make_spec("CLIPTextEncode", [InputSpec("text", "STRING", options={"multiline": True}),
                                     InputSpec("clip", "CLIP")], ["CONDITIONING"]),
        make_spec("EmptyLatentImage", [InputSpec("width", "INT", default=512, min=16, max=16384),
                                       InputSpec("height", "INT", default=512, min=16, max=16384),
                                       InputSpec("batch_size", "INT", default=1, min=1, max=4096)], ["LATENT"]),
        make_spec("KSampler", [
            InputSpec("model", "MODEL"),
            InputSpec("seed", "INT", default=0, min=0, max=0xFFFFFFFFFFFFFFFF),
            InputSpec("steps", "INT", default=20, min=1, max=10000),
            InputSpec("cfg", "FLOAT", default=8.0, min=0.0, max=100.0),
            InputSpec("sampler_name", "COMBO", choices=SAMPLERS),
            InputSpec("scheduler", "COMBO", choices=SCHEDULERS),
            InputSpec("positive", "CONDITIONING"),
            InputSpec("negative", "CONDITIONING"),
            InputSpec("latent_image", "LATENT"),
            InputSpec("denoise", "FLOAT", default=1.0, min=0.0, max=1.0),
        ], ["LATENT"]),
        make_spec("VAEDecode", [InputSpec("samples", "LATENT"), InputSpec("vae", "VAE")], ["IMAGE"]),
        make_spec("SaveImage", [InputSpec("images", "IMAGE"),
                                InputSpec("filename_prefix", "STRING", default="ComfyUI")], is_output=True),
    ]


_TXT2IMG: dict[str, Any] = {
    "3": {"class_type": "KSampler", "inputs": {
        "seed": 156680208700286, "steps": 20, "cfg": 8, "sampler_name": "euler", "scheduler": "normal",
        "denoise": 1, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a photo of a cat", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
}


def txt2img() -> dict[str, Any]:
    """A fresh copy of the minimal text-to-image workflow (API format), to edit freely."""
    return copy.deepcopy(_TXT2IMG)


def parse(document: dict[str, Any]) -> Workflow:
    return Workflow.parse(document)
