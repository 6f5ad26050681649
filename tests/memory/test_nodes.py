"""Models through the nodes under injected budgets: streamed UNet/VAE/CLIP give the same results as fully
loaded ones, LoRA patches and partial loading together restore base weights bit for bit, the VAE retries
in tiles on out-of-memory, and a run that cannot fit fails saying what was needed and free."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from nodes.api import GraphBuilder
from nodes.memory import ModelManager, MoveSpy
from nodes.runtime import Runtime
from tests.diffusion.conftest import load, run
from tests.memory.conftest import DeviceProbe, sim_manager

MIB = 1 << 20


def managed(make_runtime: Callable[..., Runtime], device: int, **kw: Any) -> tuple[Runtime, ModelManager, MoveSpy]:
    """A runtime (no result cache) whose model manager is a simulated device with ``device`` bytes."""
    rt = make_runtime(cache="none")
    manager, spy = sim_manager(device, **kw)
    rt.services["models"] = manager
    return rt, manager, spy


def sampled(rt: Runtime, ckpt: str = "sd1.safetensors", *, size: int = 64, lora: str | None = None,
            decode: bool = False) -> Any:
    """The KSampler latent (or decoded image) of a small txt2img run."""
    b = GraphBuilder()
    ckpt_node = b.node("CheckpointLoaderSimple", ckpt_name=ckpt)
    model, clip = ckpt_node.out(0), ckpt_node.out(1)
    if lora is not None:
        patched = b.node("LoraLoader", model=model, clip=clip, lora_name=lora, strength_model=1.0, strength_clip=1.0)
        model, clip = patched.out(0), patched.out(1)
    pos = b.node("CLIPTextEncode", text="a red car", clip=clip)
    neg = b.node("CLIPTextEncode", text="blurry", clip=clip)
    latent = b.node("EmptyLatentImage", width=size, height=size, batch_size=1)
    sample = b.node("KSampler", model=model, positive=pos.out(0), negative=neg.out(0), latent_image=latent.out(0),
                    seed=3, steps=3, cfg=6.0, sampler_name="euler", scheduler="normal")
    if decode:
        image = b.node("VAEDecode", samples=sample.out(0), vae=ckpt_node.out(2))
        return run(rt, b, image.out(0))[0]
    return run(rt, b, sample.out(0))[0]["samples"]


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_a_unet_larger_than_the_budget_samples_exactly_as_a_fully_loaded_one(
    make_runtime: Callable[..., Runtime], family: str
) -> None:
    reference = sampled(make_runtime(cache="none"), f"{family}.safetensors")
    # lowvram: text encoders on the CPU, weights at most half the budget; the UNet gets about 40% resident
    rt, manager, spy = managed(make_runtime, 3 * MIB, weights=int(1.2 * MIB), mode="lowvram")
    model, clip, _ = load(rt, f"{family}.safetensors")
    probe = DeviceProbe(manager, [model.unet])
    out = sampled(rt, f"{family}.safetensors")
    assert torch.equal(out, reference)
    assert model.memory.state == "partial" and manager.stats.streamed > 0 and not probe.stale
    assert probe.peak <= manager.budgets.device and manager.peak <= manager.budgets.device
    assert clip.memory.on_offload_device and "on cpu" in [m["state"] for m in manager.status()["models"]]


def test_txt2img_under_a_small_budget_decodes_exactly_as_without_one(make_runtime: Callable[..., Runtime]) -> None:
    reference = sampled(make_runtime(cache="none"), decode=True)
    rt, manager, _ = managed(make_runtime, 11 * MIB)  # the VAE's decode working memory (9 MiB) forces streaming
    model, clip, vae = load(rt, "sd1.safetensors")
    probe = DeviceProbe(manager, [model.unet, *clip.text_encoders, vae.vae])
    image = sampled(rt, decode=True)
    assert torch.equal(image, reference)
    assert vae.memory.state == "partial" and not probe.stale
    assert probe.peak <= manager.budgets.device and manager.peak <= manager.budgets.device
    assert ("evict", "sd1.safetensors:clip") in manager.events


def test_streamed_text_encoders_encode_exactly_as_fully_loaded_ones(make_runtime: Callable[..., Runtime]) -> None:
    # SDXL's two tiny encoders (13 MiB) in 7 MiB: each one's 6 MiB token embedding is streamed in turn.
    # (SD1's single tiny encoder is almost all embedding: it either fits or cannot be split.)
    family = "sdxl"
    _, reference, _ = load(make_runtime(cache="none"), f"{family}.safetensors")
    cond, pooled = reference.encode("a (red:1.3) car, [blurry]")
    rt, manager, _ = managed(make_runtime, 7 * MIB)  # a 6 MiB token embedding is the largest block
    _, clip, _ = load(rt, f"{family}.safetensors")
    probe = DeviceProbe(manager, clip.text_encoders)
    streamed = clip.encode("a (red:1.3) car, [blurry]")
    assert torch.equal(streamed[0], cond) and torch.equal(streamed[1], pooled)
    assert clip.memory.state == "partial" and not probe.stale and probe.peak <= 7 * MIB


def test_the_same_checkpoint_loaded_twice_is_one_set_of_managed_weights(make_runtime: Callable[..., Runtime]) -> None:
    rt, manager, _ = managed(make_runtime, 64 * MIB)
    b = GraphBuilder()
    one = b.node("CheckpointLoaderSimple", ckpt_name="sd1.safetensors")
    two = b.node("CheckpointLoaderSimple", ckpt_name="sd1.safetensors")
    m1, m2 = run(rt, b, one.out(0), two.out(0))
    assert m1.memory is m2.memory and m1.unet is m2.unet
    assert sorted(m["name"] for m in manager.status()["models"]) == [
        "sd1.safetensors:clip", "sd1.safetensors:unet", "sd1.safetensors:vae"]


def test_lora_on_a_streamed_unet_matches_full_loading_and_base_weights_come_back_bit_for_bit(
    make_runtime: Callable[..., Runtime], lora_dir: Any
) -> None:
    full = sampled(make_runtime(cache="none"), lora="kohya_sd1.safetensors")
    rt, manager, _ = managed(make_runtime, 3 * MIB, weights=int(1.2 * MIB), mode="lowvram")
    model, clip, _ = load(rt, "sd1.safetensors")
    with model.use():
        base = {k: v.clone() for k, v in model.unet.state_dict().items()}
    assert torch.equal(sampled(rt, lora="kohya_sd1.safetensors"), full)
    assert model.memory.state == "partial"
    with model.use():  # the unpatched clone runs: the LoRA comes off
        after = model.unet.state_dict()
        assert all(torch.equal(after[k], v) and after[k].dtype == v.dtype for k, v in base.items())
    assert torch.equal(sampled(rt, lora="kohya_sd1.safetensors"), full)  # and goes on again
    manager.unload_all()  # evicted while patched: the resting copies are the base weights
    with model.use():
        after = model.unet.state_dict()
        assert all(torch.equal(after[k], v) for k, v in base.items())


def _fail_decodes_larger_than(vae: Any, latent_side: int) -> list[int]:
    """Make the VAE's decoder raise a (simulated) CUDA out-of-memory error above ``latent_side``."""
    seen: list[int] = []

    def hook(module: Any, args: Any) -> None:
        seen.append(args[0].shape[-1])
        if args[0].shape[-1] > latent_side:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB (simulated)")

    vae.vae.decoder.register_forward_pre_hook(hook)
    return seen


def test_vae_decode_out_of_memory_retries_in_tiles(make_runtime: Callable[..., Runtime]) -> None:
    rt, manager, _ = managed(make_runtime, 512 * MIB)
    _, _, vae = load(rt, "sd1.safetensors")
    latent = torch.randn(1, 4, 16, 16)  # 128 px: the retry uses 64 px tiles (8 latent pixels)
    expected = vae.decode_tiled(latent, tile_size=64, overlap=16)
    seen = _fail_decodes_larger_than(vae, 8)
    image = vae.decode(latent)
    assert torch.equal(image, expected) and seen[0] == 16 and set(seen[1:]) == {8}
    assert manager.stats.oom_retries == 1


def test_a_decode_that_never_fits_fails_with_what_was_needed_and_free(make_runtime: Callable[..., Runtime]) -> None:
    rt, manager, _ = managed(make_runtime, 512 * MIB)
    _, _, vae = load(rt, "sd1.safetensors")
    _fail_decodes_larger_than(vae, 0)
    b = GraphBuilder()
    ckpt = b.node("CheckpointLoaderSimple", ckpt_name="sd1.safetensors")
    latent = b.node("EmptyLatentImage", width=128, height=128, batch_size=1)
    decoded = b.node("VAEDecode", samples=latent.out(0), vae=ckpt.out(2))
    b.node("Capture", value=decoded.out(0))
    result = rt.engine.run(b.to_api())
    assert result.status == "error" and result.error is not None
    assert result.error.exception_type.endswith("DeviceMemoryError")
    assert "VAE decode ran out of memory on sim:0" in result.error.message
    assert "needs at least" in result.error.message and "tiles of 64 px" in result.error.message


def test_sampling_out_of_memory_retries_with_the_unet_half_streamed(make_runtime: Callable[..., Runtime]) -> None:
    reference = sampled(make_runtime(cache="none"))
    rt, manager, _ = managed(make_runtime, 512 * MIB)
    model, _, _ = load(rt, "sd1.safetensors")
    calls: list[str] = []

    def once(module: Any, args: Any) -> None:
        calls.append(model.memory.state)
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    handle = model.unet.register_forward_pre_hook(once)
    out = sampled(rt)
    handle.remove()
    assert torch.equal(out, reference)
    assert calls[:2] == ["full", "partial"] and manager.stats.oom_retries == 1
    assert model.memory.device_bytes <= model.memory.size // 2


def test_working_memory_estimates_scale_with_the_image(make_runtime: Callable[..., Runtime]) -> None:
    rt, _, _ = managed(make_runtime, 512 * MIB)
    model, _, vae = load(rt, "sd1.safetensors")
    small = model.sampling_memory((1, 4, 8, 8), cfg=6.0)
    assert model.sampling_memory((1, 4, 16, 16), cfg=6.0) == pytest.approx(4 * small, abs=4)
    assert model.sampling_memory((1, 4, 8, 8), cfg=1.0) * 2 == pytest.approx(small, abs=2)
    assert vae._estimate("decode", (128, 128)) == 4 * vae._estimate("decode", (64, 64))
