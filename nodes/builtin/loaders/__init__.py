"""The loaders pack: checkpoints, diffusers folders, VAEs, LoRAs, CLIP layer choice, text encoding, saving.

MODEL, CLIP and VAE values are the handles of :mod:`nodes.models.handles`.  Every module imports only
``nodes.api`` and ``graph.context`` at module level; torch, diffusers and transformers are imported
inside the node functions (through :mod:`nodes.models`), so building a registry stays torch-free.
Model lists for the COMBO inputs are computed when asked, from the runtime's folders.
"""

from nodes.builtin.loaders import (
    checkpoint_loader_simple,
    checkpoint_save,
    clip_set_last_layer,
    clip_text_encode,
    diffusers_loader,
    lora_loader,
    lora_loader_model_only,
    vae_loader,
)

LATENTLOOM_NODES = [
    *checkpoint_loader_simple.LATENTLOOM_NODES,
    *diffusers_loader.LATENTLOOM_NODES,
    *vae_loader.LATENTLOOM_NODES,
    *lora_loader.LATENTLOOM_NODES,
    *lora_loader_model_only.LATENTLOOM_NODES,
    *clip_set_last_layer.LATENTLOOM_NODES,
    *clip_text_encode.LATENTLOOM_NODES,
    *checkpoint_save.LATENTLOOM_NODES,
]
