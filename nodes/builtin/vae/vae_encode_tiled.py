"""VAEEncodeTiled: encode images tile by tile (sizes in pixels, overlaps blended linearly).

As in ComfyUI an overlap above a quarter of the tile is reduced to a quarter; the temporal inputs
exist for video VAEs and have no effect on image VAEs.
"""

from typing import Annotated

from nodes.api import Image, Latent, Range, Vae, node


@node("VAEEncodeTiled", display_name="VAE Encode (Tiled)", category="_for_testing")
def vae_encode_tiled(
    pixels: Image,
    vae: Vae,
    tile_size: Annotated[int, Range(64, 4096, step=64)] = 512,
    overlap: Annotated[int, Range(0, 4096, step=32)] = 64,
    temporal_size: Annotated[int, Range(8, 4096, step=4)] = 64,
    temporal_overlap: Annotated[int, Range(4, 4096, step=4)] = 8,
) -> Latent:
    """Encode images with a VAE in tiles."""
    if tile_size < overlap * 4:
        overlap = tile_size // 4
    return {"samples": vae.encode_tiled(pixels, tile_size=tile_size, overlap=overlap)}


LATENTLOOM_NODES = [vae_encode_tiled]
