"""ImageScaleBy: resize images by a factor ("Upscale Image By").

The new size is ``round(size * scale_by)`` per side (at least 1 pixel), without cropping; the methods are
ImageScale's. The resize helpers are copies of ImageScale's (habit 4: a node file imports only
``nodes.api``); a test keeps them identical.
"""

from typing import Annotated, Any, Literal

from nodes.api import Image, Range, node

# Copied from nodes.builtin.image.image_scale.UpscaleMethod
UpscaleMethod = Literal["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]


# Copied from nodes.builtin.image.image_scale.center_crop
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


# Copied from nodes.builtin.image.image_scale.lanczos
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


# Copied from nodes.builtin.image.image_scale.upscale
def upscale(samples: Any, width: int, height: int, method: str, crop: str) -> Any:
    """Resize ``samples`` [B, C, H, W] to ``height`` x ``width`` (ComfyUI's ``common_upscale`` for images)."""
    import torch

    if crop == "center":
        samples = center_crop(samples, width, height)
    if method == "lanczos":
        return lanczos(samples, width, height)
    return torch.nn.functional.interpolate(samples, size=(height, width), mode=method)


@node("ImageScaleBy", display_name="Upscale Image By", category="image/upscaling")
def image_scale_by(
    image: Image,
    upscale_method: UpscaleMethod = "nearest-exact",
    scale_by: Annotated[float, Range(0.01, 8.0, step=0.01)] = 1.0,
) -> Image:
    """Resize images by a factor (width and height times scale_by, rounded)."""
    samples = image.movedim(-1, 1)
    width = max(1, round(samples.shape[3] * scale_by))
    height = max(1, round(samples.shape[2] * scale_by))
    return upscale(samples, width, height, upscale_method, "disabled").movedim(1, -1)


LATENTLOOM_NODES = [image_scale_by]
