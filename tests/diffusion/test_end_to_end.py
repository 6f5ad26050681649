"""Text to image end to end on the tiny models, through the engine: ComfyUI's six-node example as written,
txt2img for every family, reproducibility, img2img, inpainting, LoRA, hires fix, progress and previews."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from graph.events import Progress
from nodes.runtime import Runtime

# comfyui-reference 3.1: the official script example, only ckpt_name changed to a file on disk.
SIX_NODE_EXAMPLE = {
    "3": {"class_type": "KSampler", "inputs": {"cfg": 8, "denoise": 1, "latent_image": ["5", 0], "model": ["4", 0],
                                                "negative": ["7", 0], "positive": ["6", 0], "sampler_name": "euler",
                                                "scheduler": "normal", "seed": 8566257, "steps": 20}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd1.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"batch_size": 1, "height": 512, "width": 512}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["4", 1], "text": "masterpiece best quality girl"}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["4", 1], "text": "bad hands"}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
}


def txt2img(ckpt: str, *, seed: int = 1, size: int = 64, steps: int = 3, batch: int = 1, cfg: float = 6.0,
            sampler: str = "euler", scheduler: str = "normal") -> dict[str, Any]:
    doc = json.loads(json.dumps(SIX_NODE_EXAMPLE))
    doc["4"]["inputs"]["ckpt_name"] = ckpt
    doc["5"]["inputs"].update(width=size, height=size, batch_size=batch)
    doc["3"]["inputs"].update(seed=seed, steps=steps, cfg=cfg, sampler_name=sampler, scheduler=scheduler)
    return doc


def saved_images(runtime: Runtime, ui: dict[str, Any], node: str = "9") -> list[np.ndarray]:
    images = []
    for ref in ui[node]["images"]:
        path = runtime.folders.folder(ref["type"]) / ref["subfolder"] / ref["filename"]
        images.append(np.asarray(Image.open(path).convert("RGB")))
    return images


def test_six_node_example_runs_as_written(rt: Runtime) -> None:
    doc = json.loads(json.dumps(SIX_NODE_EXAMPLE))
    doc["5"]["inputs"].update(width=64, height=64)  # 512 px works too; 64 px keeps the test quick
    doc["3"]["inputs"]["steps"] = 2
    result = rt.engine.run(doc)
    assert result.ok, result.error
    (image,) = saved_images(rt, dict(result.ui))
    assert image.shape == (64, 64, 3)
    png = Image.open(rt.folders.output / result.ui["9"]["images"][0]["filename"])
    assert json.loads(png.info["prompt"])["4"]["inputs"]["ckpt_name"] == "sd1.safetensors"


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_txt2img_every_family(rt: Runtime, family: str) -> None:
    result = rt.engine.run(txt2img(f"{family}.safetensors", batch=2))
    assert result.ok, result.error
    images = saved_images(rt, dict(result.ui))
    assert len(images) == 2 and images[0].shape == (64, 64, 3)
    assert not np.array_equal(images[0], images[1])  # per-item noise


def test_same_seed_same_image_other_seed_other_image(make_runtime: Callable[..., Runtime]) -> None:
    torch.set_num_threads(1)
    first = make_runtime(cache="none")
    a = saved_images(first, dict(first.engine.run(txt2img("sd1.safetensors", seed=5)).ui))[0]
    second = make_runtime(cache="none")
    b = saved_images(second, dict(second.engine.run(txt2img("sd1.safetensors", seed=5)).ui))[0]
    c = saved_images(second, dict(second.engine.run(txt2img("sd1.safetensors", seed=6)).ui))[0]
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_changing_the_seed_reruns_only_sampling_and_after(rt: Runtime) -> None:
    rt.engine.run(txt2img("sd1.safetensors", seed=1))
    again = rt.engine.run(txt2img("sd1.safetensors", seed=2))
    assert set(again.executed) == {"3", "8", "9"}


def test_progress_per_step_and_latent_previews(make_runtime: Callable[..., Runtime]) -> None:
    runtime = make_runtime(preview_method="latent2rgb")
    events: list[Any] = []
    result = runtime.engine.run(txt2img("sd1.safetensors", steps=4), hooks=events.append)
    assert result.ok
    steps = [e for e in events if isinstance(e, Progress) and e.node == "3"]
    assert [(e.value, e.max) for e in steps] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert all(isinstance(e.preview, Image.Image) for e in steps)
    quiet = []
    runtime.engine.run(txt2img("sd1.safetensors", seed=9), hooks=quiet.append, extra_data={"preview_method": "none"})
    assert all(e.preview is None for e in quiet if isinstance(e, Progress))


def _input_image(runtime: Runtime, name: str = "start.png") -> str:
    pixels = np.zeros((64, 64, 4), dtype=np.uint8)
    pixels[..., 0] = 200
    pixels[16:48, 16:48, 2] = 255
    pixels[..., 3] = 255
    pixels[24:40, 24:40, 3] = 0  # a transparent hole: LoadImage's mask
    Image.fromarray(pixels, "RGBA").save(runtime.folders.input / name)
    return name


def _img2img(image: str, denoise: float, *, inpaint: bool = False) -> dict[str, Any]:
    doc = txt2img("sd1.safetensors", steps=4)
    doc["10"] = {"class_type": "LoadImage", "inputs": {"image": image}}
    if inpaint:
        doc["11"] = {"class_type": "VAEEncodeForInpaint", "inputs": {"pixels": ["10", 0], "vae": ["4", 2], "mask": ["10", 1], "grow_mask_by": 0}}
    else:
        doc["11"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["4", 2]}}
    doc["3"]["inputs"].update(latent_image=["11", 0], denoise=denoise)
    del doc["5"]
    return doc


def test_img2img_changes_less_with_lower_denoise(rt: Runtime) -> None:
    image = _input_image(rt)
    distances = []
    for denoise in (0.3, 1.0):
        doc = _img2img(image, denoise)
        result = rt.engine.run(doc)
        assert result.ok, result.error
        encoded = _capture(rt, doc, ["11", 0])["samples"]
        sampled = _capture(rt, doc, ["3", 0])["samples"]
        distances.append(float((sampled - encoded).abs().mean()))  # random VAE: compare latents, not pixels
    assert distances[0] < distances[1]


def test_inpainting_changes_only_the_masked_area_of_the_latent(rt: Runtime) -> None:
    doc = _img2img(_input_image(rt), 1.0, inpaint=True)
    sampled = _capture(rt, doc, ["3", 0])["samples"]
    encoded = _capture(rt, doc, ["11", 0])
    # the mask is LoadImage's transparent hole (24..40 px): latent pixels 3..4 change, the rest are kept
    keep = torch.nn.functional.interpolate(encoded["noise_mask"][:1].float(), size=sampled.shape[-2:], mode="area")[0, 0] < 1e-6
    assert keep.sum() > 0 and (~keep).sum() > 0
    assert torch.allclose(sampled[0][:, keep], encoded["samples"][0][:, keep], atol=1e-4)
    assert not torch.allclose(sampled[0][:, ~keep], encoded["samples"][0][:, ~keep], atol=1e-3)


def _capture(runtime: Runtime, doc: dict[str, Any], link: list[Any]) -> Any:
    doc = json.loads(json.dumps(doc))
    doc["capture"] = {"class_type": "Capture", "inputs": {"value": link}}
    result = runtime.engine.run(doc, targets=["capture"])
    assert result.ok, result.error
    return result.value("capture")


def test_lora_changes_the_image_and_strength_zero_does_not(rt: Runtime, lora_dir: Path) -> None:
    base = saved_images(rt, dict(rt.engine.run(txt2img("sd1.safetensors")).ui))[0]

    def with_lora(strength: float) -> np.ndarray:
        doc = txt2img("sd1.safetensors")
        doc["20"] = {"class_type": "LoraLoader", "inputs": {"model": ["4", 0], "clip": ["4", 1], "lora_name": "kohya_sd1.safetensors",
                                                            "strength_model": strength, "strength_clip": strength}}
        doc["3"]["inputs"]["model"] = ["20", 0]
        doc["6"]["inputs"]["clip"] = ["20", 1]
        doc["7"]["inputs"]["clip"] = ["20", 1]
        result = rt.engine.run(doc)
        assert result.ok, result.error
        return saved_images(rt, dict(result.ui))[0]

    assert not np.array_equal(with_lora(1.0), base)
    assert np.array_equal(with_lora(0.0), base)
    assert np.array_equal(saved_images(rt, dict(rt.engine.run(txt2img("sd1.safetensors", seed=1)).ui))[0], base)


def test_hires_fix_second_pass_on_an_upscaled_latent(rt: Runtime) -> None:
    doc = txt2img("sd1.safetensors", size=32)
    doc["30"] = {"class_type": "LatentUpscaleBy", "inputs": {"samples": ["3", 0], "upscale_method": "nearest-exact", "scale_by": 2.0}}
    doc["31"] = {"class_type": "KSampler", "inputs": {**doc["3"]["inputs"], "latent_image": ["30", 0], "denoise": 0.5, "steps": 4}}
    doc["8"]["inputs"]["samples"] = ["31", 0]
    result = rt.engine.run(doc)
    assert result.ok, result.error
    assert saved_images(rt, dict(result.ui))[0].shape == (64, 64, 3)


@pytest.mark.parametrize("sampler,scheduler", [("dpmpp_2m", "karras"), ("euler_ancestral", "simple"), ("uni_pc", "sgm_uniform")])
def test_other_samplers_through_the_node(rt: Runtime, sampler: str, scheduler: str) -> None:
    result = rt.engine.run(txt2img("sd1.safetensors", sampler=sampler, scheduler=scheduler))
    assert result.ok, result.error


def test_a_sampler_name_not_offered_is_a_validation_error(rt: Runtime) -> None:
    report = rt.engine.validate(txt2img("sd1.safetensors", sampler="magic"))
    assert [(e.code.value, e.node_id, e.input_name) for e in report.errors] == [("value_not_in_list", "3", "sampler_name")]
