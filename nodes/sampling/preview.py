"""Cheap live previews: a latent projected to RGB by a fixed 4x3 matrix, no VAE.

Each latent channel of the SD VAEs has a roughly constant colour meaning, so a per-pixel linear map
from the 4 channels to RGB gives a recognisable, slightly washed-out preview at latent resolution,
thousands of times faster than decoding (keturn, "Decoding latents to RGB without upscaling",
discuss.huggingface.co/t/23204, 2022). The coefficients are least-squares fits of decoded images
against their latents: the SD1.5 set was refitted by @torridgristle and the SDXL set by
@StAlKeR7779, as published in InvokeAI (Apache-2.0). SD2 shares SD1's VAE and thus its set.
"""

from __future__ import annotations

import torch
from PIL import Image

#: rows = latent channels 1-4, columns = R, G, B (the result is in about [-1, 1]).
LATENT_RGB_FACTORS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "sd1": (
        (0.3444, 0.1385, 0.0670),
        (0.1247, 0.4027, 0.1494),
        (-0.3192, 0.2513, 0.2103),
        (-0.1307, -0.1874, -0.7445),
    ),
    "sdxl": (
        (0.3816, 0.4930, 0.5320),
        (-0.3753, 0.1631, 0.1739),
        (0.1770, 0.3588, -0.2048),
        (-0.4350, -0.2644, -0.4289),
    ),
}


def latent_to_rgb_preview(x0: torch.Tensor, family: str) -> Image.Image:
    """An RGB preview of the first latent of ``x0`` at latent resolution.

    Args:
        x0: ``[B, 4, H, W]`` or ``[4, H, W]`` latent (typically the step's denoised prediction).
        family: ``"sd1"`` (SD1.x and SD2.x) or ``"sdxl"``; see ``DiffusionModel.family``.

    Returns:
        A ``W x H`` RGB PIL image.

    Raises:
        ValueError: an unknown family, or a latent without 4 channels.
    """
    if family not in LATENT_RGB_FACTORS:
        raise ValueError(f"no preview factors for family {family!r}; choose one of: {', '.join(LATENT_RGB_FACTORS)}")
    latent = x0[0] if x0.ndim == 4 else x0
    if latent.shape[0] != 4:
        raise ValueError(f"latent previews need 4 channels, got a latent of shape {list(x0.shape)}")
    factors = torch.tensor(LATENT_RGB_FACTORS[family], dtype=torch.float32)
    rgb = torch.einsum("chw,cr->hwr", latent.detach().float().cpu(), factors)
    pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).round().to(torch.uint8)
    return Image.fromarray(pixels.numpy())
