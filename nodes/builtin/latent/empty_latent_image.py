"""EmptyLatentImage: a batch of all-zero latents to sample into ("Empty Latent Image").

The latent of a ``width`` x ``height`` image is ``[batch_size, 4, height // 8, width // 8]`` float32 zeros
(SD1.x/SDXL latent layout; samplers widen an all-zero latent for models with more channels).
"""

from typing import Annotated

from nodes.api import Latent, Range, Widget, node

MAX_RESOLUTION = 16384


@node(
    "EmptyLatentImage",
    display_name="Empty Latent Image",
    category="latent",
    description="Create a new batch of empty latent images to be denoised via sampling.",
)
def empty_latent_image(
    width: Annotated[int, Range(16, MAX_RESOLUTION, step=8), Widget(tooltip="The width of the latent images in pixels.")] = 512,
    height: Annotated[int, Range(16, MAX_RESOLUTION, step=8), Widget(tooltip="The height of the latent images in pixels.")] = 512,
    batch_size: Annotated[int, Range(1, 4096), Widget(tooltip="The number of latent images in the batch.")] = 1,
) -> Latent:
    """A batch of empty latent images."""
    import torch

    return {"samples": torch.zeros((batch_size, 4, height // 8, width // 8), dtype=torch.float32)}


LATENTLOOM_NODES = [empty_latent_image]
