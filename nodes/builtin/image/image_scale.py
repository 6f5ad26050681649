"""ImageScale: resize images to a width and height ("Upscale Image").

A width or height of 0 keeps the aspect ratio from the other one (both 0: the images pass unchanged).
``crop="center"`` first cuts the centred region with the target's aspect ratio, so nothing is stretched.
``lanczos`` resizes through Pillow (each channel as 8-bit, as ComfyUI does); the other methods are
``torch.nn.functional.interpolate`` modes with ComfyUI's names (``nearest-exact``, ``bilinear``, ``area``,
``bicubic``; no ``align_corners``). Bicubic may overshoot 0..1 slightly, as in ComfyUI.
"""

from typing import Annotated, Any, Literal

from nodes.api import Image, Range, node

MAX_RESOLUTION = 16384

UpscaleMethod = Literal["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]


def center_crop(samples: Any, width: int, height: int) -> Any:
    """The centred region of ``samples`` [..., H, W] whose aspect ratio is ``width / height``."""
    old_height, old_width = samples.shape[-2], samples.shape[-1]
    old_aspect, new_aspect = old_width / old_height, width / height
    x = y = 0
    if old_aspect > new_aspect:  # too wide: trim the sides
        x = round((old_width - old_width * new_aspect / old_aspect) / 2)
    elif old_aspect < new_aspect:  # too tall: trim top and bottom
        y = round((old_height - old_height * old_aspect / new_aspect) / 2)
    return samples[..., y : old_height - y, x : old_width - x]


def lanczos(samples: Any, width: int, height: int) -> Any:
    """Resize ``samples`` [B, C, H, W] in 0..1 with Pillow's Lanczos filter, each channel as an 8-bit image."""
    import numpy as np
    import torch
    from PIL import Image as PILImage

    pixels = np.clip(255.0 * samples.detach().float().cpu().numpy(), 0, 255).astype(np.uint8)
    resized = np.stack([
        np.stack([
            np.asarray(PILImage.fromarray(channel).resize((width, height), PILImage.Resampling.LANCZOS))
            for channel in item
        ])
        for item in pixels
    ])
    return torch.from_numpy(resized.astype(np.float32) / 255.0).to(device=samples.device, dtype=samples.dtype)


def upscale(samples: Any, width: int, height: int, method: str, crop: str) -> Any:
    """Resize ``samples`` [B, C, H, W] to ``height`` x ``width`` (ComfyUI's ``common_upscale`` for images)."""
    import torch

    if crop == "center":
        samples = center_crop(samples, width, height)
    if method == "lanczos":
        return lanczos(samples, width, height)
    return torch.nn.functional.interpolate(samples, size=(height, width), mode=method)


@node("ImageScale", display_name="Upscale Image", category="image/upscaling")
def image_scale(
    image: Image,
    upscale_method: UpscaleMethod = "nearest-exact",
    width: Annotated[int, Range(0, MAX_RESOLUTION, step=1)] = 512,
    height: Annotated[int, Range(0, MAX_RESOLUTION, step=1)] = 512,
    crop: Literal["disabled", "center"] = "disabled",
) -> Image:
    """Resize images to a width and height; 0 keeps the aspect ratio, crop=center avoids stretching."""
    if width == 0 and height == 0:
        return image
    samples = image.movedim(-1, 1)
    if width == 0:
        width = max(1, round(samples.shape[3] * height / samples.shape[2]))
    elif height == 0:
        height = max(1, round(samples.shape[2] * width / samples.shape[3]))
    return upscale(samples, width, height, upscale_method, crop).movedim(1, -1)


LATENTLOOM_NODES = [image_scale]
