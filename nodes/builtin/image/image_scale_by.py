"""ImageScaleBy: resize images by a factor ("Upscale Image By").

The new size is ``round(size * scale_by)`` per side (at least 1 pixel), without cropping; the methods are
ImageScale's. The resize helpers are ImageScale's, imported from its file.
"""

from typing import Annotated

from nodes.api import Image, Range, node
from nodes.builtin.image.image_scale import UpscaleMethod, upscale


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
