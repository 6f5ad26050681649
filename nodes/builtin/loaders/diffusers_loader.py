"""DiffusersLoader: a local diffusers folder from models/diffusers as MODEL, CLIP and VAE.

The folder needs ``model_index.json`` with ``unet/``, ``vae/`` and ``text_encoder/`` (SDXL also
``text_encoder_2/``); nothing is fetched from a hub.  Loaded folders are shared through the runtime's
model cache like checkpoints.
"""

from typing import Annotated

from graph.context import runtime
from nodes.api import Choices, Clip, Model, Vae, Widget, node

_NODE = "DiffusersLoader"


def diffusers_folders() -> list[str]:
    """Folders with a ``model_index.json`` under the diffusers model folders (the COMBO's choices)."""
    services = runtime()
    return [] if services is None else services.folders.list_models("diffusers")


def _fingerprint(model_path: str) -> str:
    from nodes.models.cache import file_signature

    _, newest, size = file_signature(runtime().folders.find_model("diffusers", model_path))
    return f"{newest}:{size}"


@node(
    _NODE,
    category="advanced/loaders/deprecated",
    description="Loads a diffusers-format model folder as MODEL, CLIP and VAE.",
    fingerprint=_fingerprint,
)
def diffusers_loader(
    model_path: Annotated[str, Choices(diffusers_folders), Widget(tooltip="A folder under models/diffusers.")],
) -> tuple[Model, Clip, Vae]:
    """Load a diffusers folder as MODEL, CLIP and VAE."""
    from nodes.models.loading import load_diffusers_handles

    services = runtime()
    if services is None:
        raise RuntimeError(f"{_NODE} needs the application's folders; run it through an Engine built by build_runtime")
    try:
        path = services.folders.find_model("diffusers", model_path)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{_NODE}: model_path {model_path!r}: {exc}") from exc
    try:
        loaded = load_diffusers_handles(path, services)
    except Exception as exc:
        raise ValueError(
            f"{_NODE}: model_path {model_path!r} is not a diffusers folder this engine can load (expected "
            f"model_index.json with UNet2DConditionModel, AutoencoderKL and CLIP text encoders): {exc}"
        ) from exc
    return loaded.model, loaded.clip, loaded.vae


LATENTLOOM_NODES = [diffusers_loader]
