"""VAELoader: a standalone VAE file from models/vae ("Load VAE").

The file may be in the original layout (``encoder.down.0.block.0...``, optionally under
``first_stage_model.``) or the diffusers layout (``encoder.down_blocks.0.resnets.0...``).  Its latent
scaling factor is decided as :mod:`nodes.models.loading` describes (a ``config.json`` beside it,
metadata, an ``xl`` in the file name for SDXL, else SD1/SD2's 0.18215).
"""

from typing import Annotated

from nodes.api import Choices, Vae, Widget, file_fingerprint, find_model, model_choices, node

_NODE = "VAELoader"


@node(_NODE, display_name="Load VAE", category="loaders", fingerprint=file_fingerprint("vae", "vae_name"))
def vae_loader(
    vae_name: Annotated[str, Choices(model_choices("vae")), Widget(tooltip="A VAE file under models/vae.")],
) -> Vae:
    """Load a standalone VAE."""
    from nodes.models.loading import load_vae_handle

    services, path = find_model(_NODE, "vae", "vae_name", vae_name)
    try:
        return load_vae_handle(path, services)
    except Exception as exc:
        raise ValueError(
            f"{_NODE}: vae_name {vae_name!r} is not a VAE this engine can load (expected an AutoencoderKL in "
            f"the original or diffusers layout): {exc}"
        ) from exc


LATENTLOOM_NODES = [vae_loader]
