"""Loader nodes through a real Engine: outputs identical to the source modules, sharing, placement, errors."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from graph.errors import ValidationFailed
from nodes.api import GraphBuilder
from nodes.models.cache import SERVICE_KEY
from nodes.models.keymap import vae_to_ldm
from nodes.models.tokenizer import clip_tokenizer
from nodes.runtime import Runtime
from tests.diffusion.conftest import load, run, run_error, unet_call
from tests.resources.tiny_models import FAMILIES, Tiny, tiny_vae


def _reference_cond(tiny: Tiny, text: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The family's conditioning computed straight from the source encoders (one chunk, no weights)."""
    parts, pooled = [], None
    layers = {"sd1": [(-1, True)], "sd2": [(-2, True)], "sdxl": [(-2, False), (-2, False)]}[tiny.family]
    pads = {"sd1": ["eos"], "sd2": ["zero"], "sdxl": ["eos", "zero"]}[tiny.family]
    for encoder, (layer, norm), pad in zip(tiny.text_encoders, layers, pads, strict=True):
        ids = clip_tokenizer(pad)(text, padding="max_length", max_length=77, return_tensors="pt").input_ids
        with torch.no_grad():
            out = encoder(input_ids=ids, output_hidden_states=True)
        tower = getattr(encoder, "text_model", encoder)
        hidden = out.hidden_states[layer]
        parts.append(tower.final_layer_norm(hidden) if norm else hidden)
        pooled = out.text_embeds if hasattr(out, "text_embeds") else out.pooler_output
    return torch.cat(parts, dim=-1), pooled  # type: ignore[return-value]


@pytest.mark.parametrize("family", FAMILIES)
def test_checkpoint_loader_matches_the_source_modules(rt: Runtime, tiny_models: dict[str, Tiny], family: str) -> None:
    tiny = tiny_models[family]
    b = GraphBuilder()
    ckpt = b.node("CheckpointLoaderSimple", ckpt_name=f"{family}.safetensors")
    text = b.node("CLIPTextEncode", text="a photo of a cat", clip=ckpt.out(1))
    model, vae, conditioning = run(rt, b, ckpt.out(0), ckpt.out(2), text.out(0))

    [[cond, extra]] = conditioning
    expected_cond, expected_pooled = _reference_cond(tiny, "a photo of a cat")
    assert torch.equal(cond, expected_cond)
    assert torch.equal(extra["pooled_output"], expected_pooled)

    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    with model.use() as diffusion_model:
        assert diffusion_model.prediction_type == tiny.prediction_type
        assert diffusion_model.is_sdxl == (family == "sdxl")
        got = unet_call(diffusion_model.unet, x, cond, extra["pooled_output"])
    assert torch.equal(got, unet_call(tiny.unet, x, cond, extra["pooled_output"]))

    small = x[..., :4, :4]
    with torch.no_grad():
        expected_image = ((tiny.vae.decode(small).sample + 1) / 2).clamp(0, 1)  # LATENT holds raw VAE latents
    assert torch.equal(vae.decode(small), expected_image.permute(0, 2, 3, 1))
    assert vae.scaling_factor == tiny.vae.config.scaling_factor


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_diffusers_loader_matches_the_single_file(rt: Runtime, family: str) -> None:
    b = GraphBuilder()
    folder = b.node("DiffusersLoader", model_path=family)
    single = b.node("CheckpointLoaderSimple", ckpt_name=f"{family}.safetensors")
    cond_a = b.node("CLIPTextEncode", text="red car", clip=folder.out(1))
    cond_b = b.node("CLIPTextEncode", text="red car", clip=single.out(1))
    model, [[a, extra_a]], [[b_, extra_b]] = run(rt, b, folder.out(0), cond_a.out(0), cond_b.out(0))
    assert torch.equal(a, b_) and torch.equal(extra_a["pooled_output"], extra_b["pooled_output"])
    assert model.info.family == family


def test_same_checkpoint_shares_weights_until_the_file_changes(
    make_runtime: Callable[..., Runtime], model_base: Path
) -> None:
    rt = make_runtime(cache="none")  # the graph cache would hand back the first result; test the model cache
    first, clip_a, _ = load(rt, "sd1.safetensors")
    second, clip_b, _ = load(rt, "sd1.safetensors")
    assert first.unet is second.unet and clip_a.text_encoders[0] is clip_b.text_encoders[0]
    assert rt.services[SERVICE_KEY].loads == 1

    path = model_base / "models" / "checkpoints" / "sd1.safetensors"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    try:
        third, _, _ = load(rt, "sd1.safetensors")
    finally:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert third.unet is not first.unet
    assert rt.services[SERVICE_KEY].loads == 2


def test_weights_stay_memory_mapped_in_fp32_and_cast_for_bf16(make_runtime: Callable[..., Runtime]) -> None:
    model, clip, vae = load(make_runtime(), "sd1.safetensors")
    assert next(model.unet.parameters()).dtype == torch.float32
    bf16_model, bf16_clip, bf16_vae = load(make_runtime(precision="bf16"), "sd1.safetensors")
    for module in (bf16_model.unet, bf16_clip.text_encoders[0], bf16_vae.vae):
        assert {p.dtype for p in module.parameters()} == {torch.bfloat16}
    cond, _ = bf16_clip.encode("a cat")
    assert cond.dtype == torch.float32 and bf16_vae.decode(torch.zeros(1, 4, 2, 2)).dtype == torch.float32


def _vae_loader(rt: Runtime, name: str) -> Any:
    b = GraphBuilder()
    return run(rt, b, b.node("VAELoader", vae_name=name).out(0))[0]


def test_vae_loader_reads_original_and_diffusers_layouts(rt: Runtime, model_base: Path) -> None:
    folder = model_base / "models" / "vae"
    source = tiny_vae(0.13025, seed=5)
    original = {k.removeprefix("first_stage_model."): v.contiguous() for k, v in vae_to_ldm(source.state_dict(), source.config).items()}
    folder.mkdir(parents=True, exist_ok=True)
    save_file(original, str(folder / "plain.safetensors"))
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(folder / "sdxl_diffusers.safetensors"))
    source.save_pretrained(folder / "with_config")  # diffusion_pytorch_model.safetensors + config.json

    z = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(1))
    plain = _vae_loader(rt, "plain.safetensors")
    assert (plain.scaling_factor, plain.scale_source) == (0.18215, "default (SD1/SD2)")
    named = _vae_loader(rt, "sdxl_diffusers.safetensors")
    assert (named.scaling_factor, named.scale_source) == (0.13025, "file name (contains 'xl')")
    configured = _vae_loader(rt, "with_config/diffusion_pytorch_model.safetensors")
    assert (configured.scaling_factor, configured.scale_source) == (0.13025, "config.json")
    for handle in (plain, named, configured):
        with torch.no_grad():
            raw = source.decode(z).sample  # LATENT holds raw VAE latents: no scaling in the VAE
        assert torch.equal(handle.decode(z), ((raw + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1))


# --------------------------------------------------------------------------------------------------
# Errors


def test_missing_checkpoint_is_a_validation_error_naming_the_input(rt: Runtime) -> None:
    b = GraphBuilder()
    b.node("Capture", value=b.node("CheckpointLoaderSimple", ckpt_name="nope.safetensors").out(0))
    with pytest.raises(ValidationFailed) as caught:
        rt.engine.run(b.to_api())
    text = str(caught.value)
    assert "ckpt_name" in text and "nope.safetensors" in text and "sd1.safetensors" in text


def test_unrecognised_checkpoint_says_what_was_found(rt: Runtime, model_base: Path) -> None:
    path = model_base / "models" / "checkpoints" / "not_a_model.safetensors"
    save_file({"encoder.layer.0.weight": torch.zeros(2, 2), "head.bias": torch.zeros(2)}, str(path))
    try:
        b = GraphBuilder()
        message = run_error(rt, b, b.node("CheckpointLoaderSimple", ckpt_name="not_a_model.safetensors").out(0))
    finally:
        path.unlink()
    assert message.startswith("CheckpointLoaderSimple: ckpt_name 'not_a_model.safetensors' is not a checkpoint")
    assert "unrecognised checkpoint" in message and "encoder.layer." in message and "SD1" in message


def test_a_checkpoint_deleted_after_validation_names_the_folders(rt: Runtime) -> None:
    from graph.context import using_runtime
    from nodes.builtin.loaders.checkpoint_loader_simple import checkpoint_loader_simple

    with using_runtime(rt), pytest.raises(FileNotFoundError, match=r"CheckpointLoaderSimple: ckpt_name 'gone.ckpt'.*checkpoints"):
        checkpoint_loader_simple("gone.ckpt")


# --------------------------------------------------------------------------------------------------
# Placement and the sampler contract


def test_placement_from_settings() -> None:
    from nodes.models.placement import resolve_placement

    cpu = resolve_placement("cpu", "auto")
    assert (cpu.device.type, cpu.dtype, cpu.vae_dtype) == ("cpu", torch.float32, torch.float32)
    assert resolve_placement("cpu", "bf16").dtype == torch.bfloat16
    half = resolve_placement("cpu", "fp16")
    assert (half.dtype, half.vae_dtype) == (torch.float16, torch.float32)  # SD VAEs overflow in fp16
    if not torch.cuda.is_available():
        assert resolve_placement("auto", "auto") == cpu
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_placement("cpu", "fp8")
    with pytest.raises(ValueError, match="not a torch device"):
        resolve_placement("toaster", "auto")


def test_placing_a_checkpoint_in_its_own_dtype_copies_nothing(tiny_models: dict[str, Tiny]) -> None:
    from nodes.models.checkpoint import load_checkpoint
    from nodes.models.loading import handles_from_checkpoint
    from nodes.models.placement import resolve_placement

    loaded = load_checkpoint(tiny_models["sd1"].path)
    pointers = [p.data_ptr() for p in loaded.unet.parameters()]
    handles = handles_from_checkpoint(loaded, resolve_placement("cpu", "fp32"))
    assert [p.data_ptr() for p in handles.model.unet.parameters()] == pointers


@pytest.mark.parametrize("family", FAMILIES)
def test_the_sampler_runs_on_what_model_use_yields(rt: Runtime, family: str) -> None:
    from nodes.sampling.sample import ksampler

    model, clip, _ = load(rt, f"{family}.safetensors")
    positive, negative = ([[cond, {"pooled_output": pooled}]] for cond, pooled in (clip.encode("a cat"), clip.encode("")))
    with model.use() as diffusion_model:
        out = ksampler(diffusion_model, 1, 2, 7.0, "euler", "normal", positive, negative, {"samples": torch.zeros(1, 4, 8, 8)})
    assert out["samples"].shape == (1, 4, 8, 8) and bool(torch.isfinite(out["samples"]).all())
