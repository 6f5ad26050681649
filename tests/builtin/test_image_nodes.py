"""The image pack's tensor nodes, called directly with small tensors."""

import pytest
import torch

from nodes.builtin.image.empty_image import empty_image
from nodes.builtin.image.image_invert import image_invert
from nodes.builtin.image.image_pad_for_outpaint import image_pad_for_outpaint
from nodes.builtin.image.image_scale import image_scale
from nodes.builtin.image.image_scale_by import image_scale_by


def ramp(batch: int = 1, height: int = 2, width: int = 2) -> torch.Tensor:
    """An IMAGE [B, H, W, 3] with distinct values in 0..1."""
    count = batch * height * width * 3
    return (torch.arange(count, dtype=torch.float32) / count).reshape(batch, height, width, 3)


def test_image_invert() -> None:
    image = ramp()
    inverted = image_invert(image)
    assert torch.equal(inverted, 1.0 - image)
    assert torch.equal(image, ramp())  # the input is untouched


def test_empty_image_color_and_shape() -> None:
    image = empty_image(width=3, height=2, batch_size=2, color=0xFF8000)
    assert image.shape == (2, 2, 3, 3) and image.dtype == torch.float32
    assert torch.equal(image[1, 1, 2], torch.tensor([1.0, 0x80 / 0xFF, 0.0]))
    assert torch.equal(empty_image(width=1, height=1, batch_size=1, color=0), torch.zeros(1, 1, 1, 3))
    image[0, 0, 0, 0] = 0.5  # a real tensor, not a broadcast view
    assert image[1, 0, 0, 0] == 1.0


def test_image_scale_nearest_exact_doubles_pixels() -> None:
    image = ramp()
    scaled = image_scale(image, "nearest-exact", width=4, height=4, crop="disabled")
    assert scaled.shape == (1, 4, 4, 3)
    expected = image.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)
    assert torch.equal(scaled, expected)


def test_image_scale_zero_keeps_aspect_and_both_zero_pass_through() -> None:
    image = ramp(height=2, width=4)
    assert image_scale(image, "bilinear", width=8, height=0, crop="disabled").shape == (1, 4, 8, 3)
    assert image_scale(image, "area", width=0, height=1, crop="disabled").shape == (1, 1, 2, 3)
    assert image_scale(image, "bicubic", width=0, height=0, crop="disabled") is image


def test_image_scale_center_crop() -> None:
    image = ramp(height=2, width=4)  # aspect 2:1 cut to 1:1 keeps columns 1 and 2
    cropped = image_scale(image, "nearest-exact", width=2, height=2, crop="center")
    assert torch.equal(cropped, image[:, :, 1:3, :])
    tall = ramp(height=4, width=2)  # 1:2 cut to 1:1 keeps rows 1 and 2
    assert torch.equal(image_scale(tall, "nearest-exact", width=2, height=2, crop="center"), tall[:, 1:3, :, :])


def test_image_scale_lanczos_through_pillow() -> None:
    grey = torch.full((2, 3, 5, 3), 0.5)
    scaled = image_scale(grey, "lanczos", width=7, height=4, crop="disabled")
    assert scaled.shape == (2, 4, 7, 3) and scaled.dtype == torch.float32
    assert torch.equal(scaled, torch.full_like(scaled, 127 / 255))  # 8-bit round trip: 0.5 -> 127


def test_image_scale_by() -> None:
    image = ramp(height=2, width=3)
    assert image_scale_by(image, "bilinear", 2.0).shape == (1, 4, 6, 3)
    assert image_scale_by(image, "lanczos", 0.5).shape == (1, 1, 2, 3)  # round(1.5) = 2, round(1) = 1
    assert image_scale_by(image, "nearest-exact", 0.01).shape == (1, 1, 1, 3)  # never below one pixel
    assert torch.equal(image_scale_by(image, "nearest-exact", 1.0), image)


def test_pad_for_outpaint_left_feathered() -> None:
    image = torch.full((1, 8, 8, 3), 0.25)
    padded, mask = image_pad_for_outpaint(image, left=2, top=0, right=0, bottom=0, feathering=2)
    assert padded.shape == (1, 8, 10, 3) and mask.shape == (1, 8, 10)
    assert torch.equal(padded[:, :, :2], torch.full((1, 8, 2, 3), 0.5))
    assert torch.equal(padded[:, :, 2:], image)
    row = torch.tensor([1.0, 1.0, 1.0, 0.25, 0, 0, 0, 0, 0, 0])  # border, then d=0 -> 1, d=1 -> 1/4
    assert torch.equal(mask[0], row.expand(8, 10))


def test_pad_for_outpaint_bottom_counts_from_one() -> None:
    image = torch.zeros((2, 6, 6, 3))
    padded, mask = image_pad_for_outpaint(image, left=0, top=0, right=0, bottom=2, feathering=2)
    assert padded.shape == (2, 8, 6, 3) and mask.shape == (1, 8, 6)
    column = torch.tensor([0, 0, 0, 0, 0, 0.25, 1.0, 1.0])  # last image row is at distance 1
    assert torch.equal(mask[0], column[:, None].expand(8, 6))


@pytest.mark.parametrize("feathering", [0, 3])  # 0: off; 3: 2 * 3 is not below the 6-pixel side
def test_pad_for_outpaint_without_feathering(feathering: int) -> None:
    _, mask = image_pad_for_outpaint(torch.zeros((1, 6, 6, 3)), left=1, top=1, right=1, bottom=1, feathering=feathering)
    expected = torch.ones((8, 8))
    expected[1:7, 1:7] = 0
    assert torch.equal(mask[0], expected)
