"""VAEEncodeForInpaint: encode an image with its masked area blanked, and attach the grown mask.

ComfyUI's rule, step by step:

1. the mask (any size, ``[H, W]`` or ``[B, H, W]``) is resized bilinearly to the image and both are
   centre-cropped to a multiple of 8 pixels;
2. the mask is rounded to 0/1 and, for the noise mask, grown by ``grow_mask_by`` pixels: a pixel is
   masked when a ``grow x grow`` box placed ``ceil((grow - 1) / 2)`` pixels above and left of it
   touches the mask (0 keeps the mask as it is);
3. the image's masked pixels are set to 0.5 grey (``(p - 0.5) * (1 - mask) + 0.5``) and encoded;
4. the result is ``{"samples": latents, "noise_mask": grown mask [B, 1, H, W]}``.
"""

import math
from typing import Annotated, Any

from nodes.api import Image, Latent, Mask, Range, Vae, node


def grow_mask(mask: Any, grow: int) -> Any:
    """Dilate a ``[B, 1, H, W]`` mask rounded to 0/1 by a ``grow x grow`` box (step 2 above)."""
    import torch
    import torch.nn.functional as F

    mask = mask.round()
    if grow <= 0:
        return mask
    kernel = torch.ones((1, 1, grow, grow), dtype=mask.dtype, device=mask.device)
    grown = F.conv2d(mask, kernel, padding=math.ceil((grow - 1) / 2)).clamp(0, 1)
    return grown[..., : mask.shape[-2], : mask.shape[-1]]


@node("VAEEncodeForInpaint", display_name="VAE Encode (for Inpainting)", category="latent/inpaint")
def vae_encode_for_inpaint(
    pixels: Image,
    vae: Vae,
    mask: Mask,
    grow_mask_by: Annotated[int, Range(0, 64, step=1)] = 6,
) -> Latent:
    """Encode an image for inpainting: masked pixels blanked, grown mask as the noise mask."""
    import torch.nn.functional as F

    height, width = pixels.shape[1], pixels.shape[2]
    mask = mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1]).float()
    mask = F.interpolate(mask, size=(height, width), mode="bilinear")
    pixels = vae.crop(pixels)
    d = vae.downscale
    top, left = (height % d) // 2, (width % d) // 2
    mask = mask[:, :, top : top + pixels.shape[1], left : left + pixels.shape[2]]
    keep = (1.0 - mask.round()).squeeze(1)[..., None]
    blanked = (pixels[..., :3].float() - 0.5) * keep + 0.5
    return {"samples": vae.encode(blanked), "noise_mask": grow_mask(mask, grow_mask_by)}


LATENTLOOM_NODES = [vae_encode_for_inpaint]
