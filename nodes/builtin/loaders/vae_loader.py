"""VAELoader: a standalone VAE file from models/vae ("Load VAE").

The file may be in the original layout (``encoder.down.0.block.0...``, optionally under
``first_stage_model.``) or the diffusers layout (``encoder.down_blocks.0.resnets.0...``).  Its latent
scaling factor is decided as :mod:`nodes.models.loading` describes (a ``config.json`` beside it,
metadata, an ``xl`` in the file name for SDXL, else SD1/SD2's 0.18215).
"""

from typing import Annotated

from graph.context import runtime
from nodes.api import Choices, Vae, Widget, node

_NODE = "VAELoader"


def vae_names() -> list[str]:
    """Files in the vae folders (the COMBO's choices)."""
    services = runtime()
    return [] if services is None else services.folders.list_models("vae")


def _fingerprint(vae_name: str) -> str:
    stat = runtime().folders.find_model("vae", vae_name).stat()
    return f"{stat.st_mtime_ns}:{stat.st_size}"


@node(_NODE, display_name="Load VAE", category="loaders", fingerprint=_fingerprint)
def vae_loader(
    vae_name: Annotated[str, Choices(vae_names), Widget(tooltip="A VAE file under models/vae.")],
) -> Vae:
    """Load a standalone VAE."""
    from nodes.models.loading import load_vae_handle

    services = runtime()
    if services is None:
        raise RuntimeError(f"{_NODE} needs the application's folders; run it through an Engine built by build_runtime")
    try:
        path = services.folders.find_model("vae", vae_name)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{_NODE}: vae_name {vae_name!r}: {exc}") from exc
    try:
        return load_vae_handle(path, services)
    except Exception as exc:
        raise ValueError(
            f"{_NODE}: vae_name {vae_name!r} is not a VAE this engine can load (expected an AutoencoderKL in "
            f"the original or diffusers layout): {exc}"
        ) from exc


LATENTLOOM_NODES = [vae_loader]
