"""CheckpointLoaderSimple: a single-file checkpoint from models/checkpoints as MODEL, CLIP and VAE.

SD1, SD2 and SDXL base checkpoints in the original layout (``.safetensors``, or ``.ckpt`` / ``.pt``
read with ``torch.load(weights_only=True)``) are detected from their keys and shapes
(:mod:`nodes.models.detect`).  Loading the same file again in the same application returns handles
on the same weights (the runtime's model cache, keyed by path, modification time, size, device and
dtype); the fingerprint (file time and size) makes a replaced file load again.
"""

from typing import Annotated

from nodes.api import Choices, Clip, Model, OutputInfo, Vae, Widget, file_fingerprint, find_model, model_choices, node

_NODE = "CheckpointLoaderSimple"


@node(
    _NODE,
    display_name="Load Checkpoint",
    category="loaders",
    description="Loads a diffusion model checkpoint; diffusion models denoise latents.",
    fingerprint=file_fingerprint("checkpoints", "ckpt_name"),
)
def checkpoint_loader_simple(
    ckpt_name: Annotated[str, Choices(model_choices("checkpoints")), Widget(tooltip="The name of the checkpoint (model) to load.")],
) -> tuple[
    Annotated[Model, OutputInfo(tooltip="The model used for denoising latents.")],
    Annotated[Clip, OutputInfo(tooltip="The CLIP model used for encoding text prompts.")],
    Annotated[Vae, OutputInfo(tooltip="The VAE model used for encoding and decoding images to and from latent space.")],
]:
    """Load a checkpoint as MODEL, CLIP and VAE."""
    from nodes.models.loading import load_checkpoint_handles

    services, path = find_model(_NODE, "checkpoints", "ckpt_name", ckpt_name)
    try:
        loaded = load_checkpoint_handles(path, services)
    except Exception as exc:
        raise ValueError(
            f"{_NODE}: ckpt_name {ckpt_name!r} is not a checkpoint this engine can load (expected an SD1, SD2 or "
            f"SDXL base checkpoint in the original single-file layout): {exc}"
        ) from exc
    return loaded.model, loaded.clip, loaded.vae


LATENTLOOM_NODES = [checkpoint_loader_simple]
