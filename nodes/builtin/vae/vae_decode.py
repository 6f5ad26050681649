"""VAEDecode: latents to images ("VAE Decode").

The model manager reserves the decode's working memory (from the output pixels,
:func:`nodes.memory.estimates.vae_decode_memory`); if the device still runs out of memory, idle models
are unloaded and the decode is retried once in tiles (:class:`nodes.models.handles.VaeHandle`).
"""

from typing import Annotated

from nodes.api import Image, Latent, OutputInfo, Vae, Widget, node


@node(
    "VAEDecode",
    display_name="VAE Decode",
    category="latent",
    description="Decodes latent images back into pixel space images.",
)
def vae_decode(
    samples: Annotated[Latent, Widget(tooltip="The latent to be decoded.")],
    vae: Annotated[Vae, Widget(tooltip="The VAE model used for decoding the latent.")],
) -> Annotated[Image, OutputInfo(tooltip="The decoded image.")]:
    """Decode latents with a VAE."""
    return vae.decode(samples["samples"])


LATENTLOOM_NODES = [vae_decode]
