"""SetLatentNoiseMask: attach an inpainting mask to latents (only masked areas are re-noised and sampled).

The mask (pixel or latent resolution, ``[H, W]`` or ``[B, H, W]``) is stored as ``noise_mask``
``[B, 1, H, W]``; the sampler resizes it to the latent. The latent tensor itself is unchanged.
"""

from nodes.api import Latent, Mask, node


@node("SetLatentNoiseMask", category="latent/inpaint")
def set_latent_noise_mask(samples: Latent, mask: Mask) -> Latent:
    """Attach a noise mask to latents so that sampling only changes the masked area."""
    return {**samples, "noise_mask": mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1]))}


LATENTLOOM_NODES = [set_latent_noise_mask]
