"""DiffusersLoader: a local diffusers folder from models/diffusers as MODEL, CLIP and VAE.

The folder needs ``model_index.json`` with ``unet/``, ``vae/`` and ``text_encoder/`` (SDXL also
``text_encoder_2/``); nothing is fetched from a hub.  Loaded folders are shared through the runtime's
model cache like checkpoints.
"""

from typing import Annotated

from nodes.api import Choices, Clip, Model, Vae, Widget, find_model, folder_fingerprint, model_choices, node

_NODE = "DiffusersLoader"


@node(
    _NODE,
    category="advanced/loaders/deprecated",
    description="Loads a diffusers-format model folder as MODEL, CLIP and VAE.",
    fingerprint=folder_fingerprint("diffusers", "model_path"),
)
def diffusers_loader(
    model_path: Annotated[str, Choices(model_choices("diffusers")), Widget(tooltip="A folder under models/diffusers.")],
) -> tuple[Model, Clip, Vae]:
    """Load a diffusers folder as MODEL, CLIP and VAE."""
    from nodes.models.loading import load_diffusers_handles

    services, path = find_model(_NODE, "diffusers", "model_path", model_path)
    try:
        loaded = load_diffusers_handles(path, services)
    except Exception as exc:
        raise ValueError(
            f"{_NODE}: model_path {model_path!r} is not a diffusers folder this engine can load (expected "
            f"model_index.json with UNet2DConditionModel, AutoencoderKL and CLIP text encoders): {exc}"
        ) from exc
    return loaded.model, loaded.clip, loaded.vae


LATENTLOOM_NODES = [diffusers_loader]
