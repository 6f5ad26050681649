"""EmptyImage: a batch of images filled with one colour.

``color`` is a 24-bit ``0xRRGGBB`` integer (the UI shows a colour picker); each channel becomes
``byte / 255`` in the IMAGE tensor ``[batch_size, height, width, 3]``.
"""

from typing import Annotated

from nodes.api import Image, Range, Widget, node

MAX_RESOLUTION = 16384


@node("EmptyImage", category="image")
def empty_image(
    width: Annotated[int, Range(1, MAX_RESOLUTION, step=1)] = 512,
    height: Annotated[int, Range(1, MAX_RESOLUTION, step=1)] = 512,
    batch_size: Annotated[int, Range(1, 4096)] = 1,
    color: Annotated[int, Range(0, 0xFFFFFF, step=1), Widget(display="color")] = 0,
) -> Image:
    """A batch of images of one colour (color is 0xRRGGBB)."""
    import torch

    rgb = [((color >> shift) & 0xFF) / 0xFF for shift in (16, 8, 0)]
    return torch.tensor(rgb, dtype=torch.float32).expand(batch_size, height, width, 3).clone()


LATENTLOOM_NODES = [empty_image]
