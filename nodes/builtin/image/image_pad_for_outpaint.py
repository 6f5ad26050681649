"""ImagePadForOutpaint: grow images by a border to paint into, with the matching mask ("Pad Image for
Outpainting").

The border is grey (0.5). The mask is 1 over the border and 0 over the original image, except for a
feathered band inside the original along the padded sides: at distance ``d`` pixels from a padded side
(``d`` counted from 0 at the top and left edges and from 1 at the bottom and right ones, as ComfyUI does),
the mask is ``((feathering - d) / feathering) ** 2`` while ``d < feathering``. Feathering applies only
when twice its width fits in both sides of the image. The mask is ``[1, H, W]``.
"""

from typing import Annotated

from nodes.api import Image, Mask, Range, node

MAX_RESOLUTION = 16384

Border = Annotated[int, Range(0, MAX_RESOLUTION, step=8)]


@node("ImagePadForOutpaint", display_name="Pad Image for Outpainting", category="image")
def image_pad_for_outpaint(
    image: Image,
    left: Border = 0,
    top: Border = 0,
    right: Border = 0,
    bottom: Border = 0,
    feathering: Annotated[int, Range(0, MAX_RESOLUTION, step=1)] = 40,
) -> tuple[Image, Mask]:
    """Pad images with a grey border and return the mask of the area to outpaint (feathered inward)."""
    import torch

    batch, height, width, channels = image.shape
    padded = torch.full(
        (batch, height + top + bottom, width + left + right, channels), 0.5, dtype=image.dtype, device=image.device
    )
    padded[:, top : top + height, left : left + width, :] = image
    inner = torch.zeros((height, width), dtype=torch.float32)
    if feathering > 0 and feathering * 2 < height and feathering * 2 < width:
        rows = torch.arange(height, dtype=torch.float32).unsqueeze(1).expand(height, width)
        cols = torch.arange(width, dtype=torch.float32).unsqueeze(0).expand(height, width)
        distance = torch.full((height, width), float(feathering))  # unpadded sides never feather
        for padded_side, to_side in ((top, rows), (bottom, height - rows), (left, cols), (right, width - cols)):
            if padded_side:
                distance = torch.minimum(distance, to_side)
        inner = torch.where(distance < feathering, ((feathering - distance) / feathering) ** 2, inner)
    mask = torch.ones((height + top + bottom, width + left + right), dtype=torch.float32)
    mask[top : top + height, left : left + width] = inner
    return padded, mask.unsqueeze(0)


LATENTLOOM_NODES = [image_pad_for_outpaint]
