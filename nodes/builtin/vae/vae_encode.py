"""VAEEncode: images to latents ("VAE Encode").

The image is centre-cropped to a multiple of 8 pixels (as ComfyUI does) and encoded to the mean of the
VAE's latent distribution, so the result is deterministic.  As for VAEDecode, the working memory is
reserved from the pixels and an out-of-memory error is retried once in tiles.
"""

from nodes.api import Image, Latent, Vae, node


@node("VAEEncode", display_name="VAE Encode", category="latent")
def vae_encode(pixels: Image, vae: Vae) -> Latent:
    """Encode images with a VAE."""
    return {"samples": vae.encode(pixels)}


LATENTLOOM_NODES = [vae_encode]
