"""The latent pack: create, resize, slice, repeat and mask LATENT dicts.

LATENT is ComfyUI's dict ``{"samples": [B, C, H/8, W/8], "noise_mask"?: ..., "batch_index"?: [...]}``.
Nodes return new dicts (the input dict and its tensors are never modified). One node per module; each
imports only ``nodes.api`` at module level and torch inside its function.
"""

from nodes.builtin.latent import (
    empty_latent_image,
    latent_from_batch,
    latent_upscale,
    latent_upscale_by,
    repeat_latent_batch,
    set_latent_noise_mask,
)

LATENTLOOM_NODES = [
    *empty_latent_image.LATENTLOOM_NODES,
    *latent_upscale.LATENTLOOM_NODES,
    *latent_upscale_by.LATENTLOOM_NODES,
    *latent_from_batch.LATENTLOOM_NODES,
    *repeat_latent_batch.LATENTLOOM_NODES,
    *set_latent_noise_mask.LATENTLOOM_NODES,
]
