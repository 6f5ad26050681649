"""VAEDecodeTiled: decode latents tile by tile, for images too large to decode at once.

``tile_size`` and ``overlap`` are in pixels; as in ComfyUI an overlap above a quarter of the tile is
reduced to a quarter.  Overlapping tiles are blended with linear ramps (see
:meth:`nodes.models.handles.VaeHandle.decode_tiled`).  ``temporal_size`` and ``temporal_overlap``
exist for video VAEs and have no effect on image VAEs.
"""

from typing import Annotated

from nodes.api import Image, Latent, Range, Vae, Widget, node


@node("VAEDecodeTiled", display_name="VAE Decode (Tiled)", category="_for_testing")
def vae_decode_tiled(
    samples: Latent,
    vae: Vae,
    tile_size: Annotated[int, Range(64, 4096, step=32)] = 512,
    overlap: Annotated[int, Range(0, 4096, step=32)] = 64,
    temporal_size: Annotated[
        int, Range(8, 4096, step=4), Widget(tooltip="Only used for video VAEs: frames to decode at a time.")
    ] = 64,
    temporal_overlap: Annotated[
        int, Range(4, 4096, step=4), Widget(tooltip="Only used for video VAEs: frames to overlap.")
    ] = 8,
) -> Image:
    """Decode latents with a VAE in tiles."""
    if tile_size < overlap * 4:
        overlap = tile_size // 4
    return vae.decode_tiled(samples["samples"], tile_size=tile_size, overlap=overlap)


LATENTLOOM_NODES = [vae_decode_tiled]
