"""LatentUpscaleBy: resize latents by a factor ("Upscale Latent By").

The new latent size is ``round(size * scale_by)`` per side (at least 1), without cropping; the methods,
``bislerp`` included, are LatentUpscale's, and other keys of the latent dict are kept. The resize helpers
are LatentUpscale's, imported from its file.
"""

from typing import Annotated

from nodes.api import Latent, Range, node
from nodes.builtin.latent.latent_upscale import UpscaleMethod, upscale


@node("LatentUpscaleBy", display_name="Upscale Latent By", category="latent")
def latent_upscale_by(
    samples: Latent,
    upscale_method: UpscaleMethod = "nearest-exact",
    scale_by: Annotated[float, Range(0.01, 8.0, step=0.01)] = 1.5,
) -> Latent:
    """Resize latents by a factor (width and height times scale_by, rounded)."""
    latent = samples["samples"]
    width = max(1, round(latent.shape[-1] * scale_by))
    height = max(1, round(latent.shape[-2] * scale_by))
    return {**samples, "samples": upscale(latent, width, height, upscale_method, "disabled")}


LATENTLOOM_NODES = [latent_upscale_by]
