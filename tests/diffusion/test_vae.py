"""VAE nodes: round trips, tiles, inpainting encode."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from nodes.api import GraphBuilder
from nodes.builtin.vae.vae_encode_for_inpaint import grow_mask, vae_encode_for_inpaint
from nodes.runtime import Runtime
from tests.diffusion.conftest import load, run


@pytest.fixture
def vae(rt: Runtime) -> Any:
    return load(rt, "sd1.safetensors")[2]


def _image(height: int, width: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, height, width, 3, generator=torch.Generator().manual_seed(seed))


def test_round_trip_shapes_through_the_nodes(rt: Runtime, tmp_path: Any) -> None:
    b = GraphBuilder()
    ckpt = b.node("CheckpointLoaderSimple", ckpt_name="sdxl.safetensors")
    latent = b.node("EmptyLatentImage", width=32, height=48, batch_size=2)
    decoded = b.node("VAEDecode", samples=latent.out(0), vae=ckpt.out(2))
    encoded = b.node("VAEEncode", pixels=decoded.out(0), vae=ckpt.out(2))
    tiled = b.node("VAEDecodeTiled", samples=encoded.out(0), vae=ckpt.out(2), tile_size=64, overlap=32)  # 2 tiles
    image, again, tiled_image = run(rt, b, decoded.out(0), encoded.out(0), tiled.out(0))
    assert image.shape == (2, 48, 32, 3) and image.dtype == torch.float32
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert again["samples"].shape == (2, 4, 6, 4)
    assert tiled_image.shape == (2, 48, 32, 3)


def test_encode_crops_to_a_multiple_of_8_and_is_deterministic(vae: Any) -> None:
    image = _image(38, 35)
    latent = vae.encode(image)
    assert latent.shape == (1, 4, 4, 4)
    assert torch.equal(latent, vae.encode(image[:, 3:35, 1:33]))  # centre crop: (38 % 8) // 2 = 3, (35 % 8) // 2 = 1
    assert torch.equal(latent, vae.encode(image))
    raw = vae.vae.encode(image[:, 3:35, 1:33].permute(0, 3, 1, 2) * 2 - 1).latent_dist.mean
    assert torch.equal(latent, raw.detach())  # LATENT holds the VAE's own latents (ComfyUI's convention)


def test_tiled_decode_is_close_to_the_full_decode(vae: Any) -> None:
    latent = torch.randn(1, 4, 12, 16, generator=torch.Generator().manual_seed(0)) / vae.scaling_factor  # VAE-space
    full = vae.decode(latent)
    assert torch.equal(vae.decode_tiled(latent, tile_size=128, overlap=64), full)  # one tile: exact
    blended = vae.decode_tiled(latent, tile_size=64, overlap=32)  # 2 x 3 tiles of 8x8 latents
    seams = vae.decode_tiled(latent, tile_size=64, overlap=0)
    assert blended.shape == full.shape == (1, 96, 128, 3)
    error = (blended - full).abs().mean()
    assert error < 0.05, error  # random weights see the whole image; trained VAEs are much closer
    assert error < (seams - full).abs().mean()


def test_tiled_encode_matches_in_one_tile_and_keeps_the_shape(vae: Any) -> None:
    image = _image(96, 64)
    full = vae.encode(image)
    assert torch.equal(vae.encode_tiled(image, tile_size=128, overlap=32), full)
    tiled = vae.encode_tiled(image, tile_size=64, overlap=32)
    assert tiled.shape == full.shape == (1, 4, 12, 8)
    assert (tiled - full).abs().mean() < full.abs().mean()


@pytest.mark.parametrize(("grow", "rows"), [(0, [10]), (5, list(range(8, 13))), (6, list(range(8, 14)))])
def test_inpaint_mask_growth(grow: int, rows: list[int]) -> None:
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 10, 10] = 1.0
    grown = grow_mask(mask, grow)[0, 0]
    assert grown.shape == (32, 32)
    assert torch.nonzero(grown.sum(1)).flatten().tolist() == rows
    assert torch.nonzero(grown.sum(0)).flatten().tolist() == rows


def test_vae_encode_for_inpaint_blanks_the_masked_pixels(vae: Any) -> None:
    image = _image(36, 32)
    mask = torch.zeros(18, 16)  # half resolution: resized to the image first
    mask[4:8, 4:8] = 1.0
    result = vae_encode_for_inpaint(image, vae, mask, grow_mask_by=6)
    noise_mask = result["noise_mask"]
    assert noise_mask.shape == (1, 1, 32, 32) and set(noise_mask.unique().tolist()) == {0.0, 1.0}
    full_mask = torch.nn.functional.interpolate(mask[None, None], size=(36, 32), mode="bilinear")[..., 2:34, :]
    assert noise_mask.sum() > full_mask.round().sum()  # grown
    keep = (1 - full_mask.round())[0, 0, ..., None]
    blanked = (image[:, 2:34] - 0.5) * keep + 0.5
    assert torch.equal(result["samples"], vae.encode(blanked))
