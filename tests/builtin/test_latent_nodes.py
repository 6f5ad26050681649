"""The latent pack, called directly with small tensors; inputs are never modified."""

import math

import pytest
import torch

from nodes.builtin.latent.empty_latent_image import empty_latent_image
from nodes.builtin.latent.latent_from_batch import latent_from_batch
from nodes.builtin.latent.latent_upscale import bislerp, latent_upscale, slerp
from nodes.builtin.latent.latent_upscale_by import latent_upscale_by
from nodes.builtin.latent.repeat_latent_batch import repeat_latent_batch
from nodes.builtin.latent.set_latent_noise_mask import set_latent_noise_mask


def batch(size: int, height: int = 2, width: int = 2) -> torch.Tensor:
    """Latents [size, 4, height, width] whose batch item i is filled with i."""
    return torch.arange(size, dtype=torch.float32).reshape(size, 1, 1, 1).expand(size, 4, height, width).clone()


def test_empty_latent_image() -> None:
    latent = empty_latent_image(width=64, height=32, batch_size=3)
    assert list(latent) == ["samples"]
    assert latent["samples"].shape == (3, 4, 4, 8) and latent["samples"].dtype == torch.float32
    assert not latent["samples"].any()
    assert empty_latent_image(width=20, height=20, batch_size=1)["samples"].shape == (1, 4, 2, 2)  # floor division


def test_latent_upscale_sizes() -> None:
    source = {"samples": torch.randn(1, 4, 8, 16), "batch_index": [3]}
    up = latent_upscale(source, "nearest-exact", width=256, height=128, crop="disabled")
    assert up["samples"].shape == (1, 4, 16, 32) and up["batch_index"] == [3]
    assert latent_upscale(source, "bilinear", width=0, height=256, crop="disabled")["samples"].shape == (1, 4, 32, 64)
    assert latent_upscale(source, "area", width=256, height=0, crop="disabled")["samples"].shape == (1, 4, 16, 32)
    assert latent_upscale(source, "bicubic", width=8, height=8, crop="disabled")["samples"].shape == (1, 4, 8, 8)  # >= 64 px
    assert latent_upscale(source, "bislerp", width=0, height=0, crop="disabled") is source
    assert list(source) == ["samples", "batch_index"]


def test_latent_upscale_nearest_and_center_crop_exact() -> None:
    samples = torch.arange(2 * 4 * 4 * 8, dtype=torch.float32).reshape(2, 4, 4, 8)
    up = latent_upscale({"samples": samples}, "nearest-exact", width=128, height=64, crop="disabled")["samples"]
    assert torch.equal(up, samples.repeat_interleave(2, dim=-1).repeat_interleave(2, dim=-2))
    cropped = latent_upscale({"samples": samples}, "nearest-exact", width=128, height=128, crop="center")["samples"]
    assert torch.equal(cropped, samples[..., 2:6].repeat_interleave(4, dim=-1).repeat_interleave(4, dim=-2))


def test_latent_upscale_by() -> None:
    source = {"samples": torch.randn(2, 4, 4, 6), "noise_mask": torch.ones(1, 1, 32, 48)}
    up = latent_upscale_by(source, "bislerp", 1.5)
    assert up["samples"].shape == (2, 4, 6, 9) and up["noise_mask"] is source["noise_mask"]
    assert latent_upscale_by(source, "bilinear", 0.01)["samples"].shape == (2, 4, 1, 1)
    assert torch.equal(latent_upscale_by(source, "nearest-exact", 1.0)["samples"], source["samples"])


def test_slerp_keeps_length_and_turns_the_direction() -> None:
    a, b = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    mid = slerp(a, b, torch.tensor([[0.5]]))
    torch.testing.assert_close(mid, torch.tensor([[math.sqrt(2), math.sqrt(2)]]))  # lerp would give length 1.41
    quarter = slerp(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 3.0]]), torch.tensor([[0.25]]))
    torch.testing.assert_close(quarter, 1.5 * torch.tensor([[math.cos(math.pi / 8), math.sin(math.pi / 8)]]))
    # parallel, opposite and zero vectors fall back to lerp
    same = slerp(torch.tensor([[1.0, 1.0]]), torch.tensor([[3.0, 3.0]]), torch.tensor([[0.5]]))
    assert torch.equal(same, torch.tensor([[2.0, 2.0]]))
    opposite = slerp(torch.tensor([[1.0, 0.0]]), torch.tensor([[-1.0, 0.0]]), torch.tensor([[0.25]]))
    assert torch.equal(opposite, torch.tensor([[0.5, 0.0]]))
    zero = slerp(torch.zeros(1, 2), torch.tensor([[0.0, 4.0]]), torch.tensor([[0.5]]))
    assert torch.equal(zero, torch.tensor([[0.0, 2.0]]))


def test_bislerp_exact_on_a_small_latent() -> None:
    samples = torch.zeros(1, 2, 1, 2)
    samples[0, :, 0, 0] = torch.tensor([1.0, 0.0])  # left pixel points along channel 0
    samples[0, :, 0, 1] = torch.tensor([0.0, 1.0])  # right pixel along channel 1
    up = bislerp(samples, width=4, height=1)  # source positions 0, 0.25, 0.75, 1
    angles = torch.tensor([0.0, math.pi / 8, 3 * math.pi / 8, math.pi / 2])
    torch.testing.assert_close(up[0, :, 0], torch.stack([angles.cos(), angles.sin()]))
    torch.testing.assert_close(up.norm(dim=1), torch.ones(1, 1, 4))  # unit vectors stay unit


def test_bislerp_identity_shapes_and_dtype() -> None:
    samples = torch.randn(2, 4, 5, 7, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(bislerp(samples, 7, 5), samples)
    assert bislerp(samples, 14, 3).shape == (2, 4, 3, 14)
    assert bislerp(samples.half(), 3, 3).dtype == torch.float16
    up = latent_upscale({"samples": samples}, "bislerp", width=112, height=80, crop="disabled")["samples"]
    assert up.shape == (2, 4, 10, 14) and torch.isfinite(up).all()


def test_latent_from_batch_keeps_masks_and_indices_consistent() -> None:
    masks = torch.arange(2, dtype=torch.float32).reshape(2, 1, 1, 1).expand(2, 1, 16, 16)
    source = {"samples": batch(5), "noise_mask": masks}
    part = latent_from_batch(source, batch_index=1, length=3)
    assert torch.equal(part["samples"], batch(5)[1:4])
    assert part["batch_index"] == [1, 2, 3]
    # 2 masks for 5 latents are repeated to 0, 1, 0, 1, 0 before slicing
    assert part["noise_mask"][:, 0, 0, 0].tolist() == [1.0, 0.0, 1.0]
    assert list(source) == ["samples", "noise_mask"] and torch.equal(source["samples"], batch(5))


def test_latent_from_batch_clamps_and_follows_existing_indices() -> None:
    source = {"samples": batch(3), "batch_index": [10, 11, 12], "noise_mask": torch.ones(1, 1, 8, 8)}
    last = latent_from_batch(source, batch_index=63, length=64)
    assert torch.equal(last["samples"], batch(3)[2:3]) and last["batch_index"] == [12]
    assert last["noise_mask"].shape == (1, 1, 8, 8)  # a single mask applies to every item
    assert latent_from_batch(source, batch_index=1, length=5)["batch_index"] == [11, 12]
    assert source["batch_index"] == [10, 11, 12]


def test_repeat_latent_batch() -> None:
    source = {"samples": batch(2), "batch_index": [4, 5], "noise_mask": torch.arange(2.0).reshape(2, 1, 1, 1)}
    repeated = repeat_latent_batch(source, amount=3)
    assert repeated["samples"][:, 0, 0, 0].tolist() == [0, 1, 0, 1, 0, 1]
    assert repeated["batch_index"] == [4, 5, 6, 7, 8, 9]  # copies shifted by the span (2)
    assert repeated["noise_mask"][:, 0, 0, 0].tolist() == [0, 1, 0, 1, 0, 1]
    single = {"samples": batch(3), "noise_mask": torch.ones(1, 1, 4, 4)}
    again = repeat_latent_batch(single, amount=2)
    assert again["samples"].shape == (6, 4, 2, 2) and again["noise_mask"] is single["noise_mask"]
    assert "batch_index" not in again
    gaps = repeat_latent_batch({"samples": batch(2), "batch_index": [0, 3]}, amount=2)
    assert gaps["batch_index"] == [0, 3, 4, 7]


@pytest.mark.parametrize("shape", [(16, 16), (1, 16, 16), (2, 16, 16)])
def test_set_latent_noise_mask(shape: tuple[int, ...]) -> None:
    source = {"samples": batch(2)}
    mask = torch.rand(shape)
    out = set_latent_noise_mask(source, mask)
    assert out["samples"] is source["samples"] and "noise_mask" not in source
    assert out["noise_mask"].shape == (1 if len(shape) < 3 else shape[0], 1, 16, 16)
    assert torch.equal(out["noise_mask"].flatten(), mask.flatten())
