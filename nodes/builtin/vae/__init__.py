"""The VAE pack: LATENT <-> IMAGE through a VAE handle, whole or in tiles, and inpainting encode.

LATENT ``samples`` are in the scaled latent space the UNet sees (the VAE handle applies its scaling
factor both ways); IMAGE is float32 ``[B, H, W, 3]`` in 0..1.  Every module imports only ``nodes.api``
at module level; torch is imported inside the node functions.
"""

from nodes.builtin.vae import vae_decode, vae_decode_tiled, vae_encode, vae_encode_for_inpaint, vae_encode_tiled

LATENTLOOM_NODES = [
    *vae_decode.LATENTLOOM_NODES,
    *vae_encode.LATENTLOOM_NODES,
    *vae_decode_tiled.LATENTLOOM_NODES,
    *vae_encode_tiled.LATENTLOOM_NODES,
    *vae_encode_for_inpaint.LATENTLOOM_NODES,
]
