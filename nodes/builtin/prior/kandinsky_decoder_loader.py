"""KandinskyDecoderLoader: Kandinsky 2.2's decoder (UNet + MoVQ) from a diffusers folder in models/decoders.

The folder is ``KandinskyV22Pipeline``'s layout: ``model_index.json``, ``unet/`` (conditioned on image
embeddings only), ``movq/`` (``VQModel``) and ``scheduler/``.
"""

from typing import Annotated, Any

from nodes.api import Choices, OutputInfo, Port, Widget, folder_fingerprint, load_folder, model_choices, node

_NODE = "KandinskyDecoderLoader"
_KIND = "decoders"


@node(
    _NODE,
    display_name="Load Kandinsky 2.2 Decoder",
    category="loaders/prior",
    description="Loads Kandinsky 2.2's decoder folder: a UNet conditioned on image embeddings and MoVQ.",
    fingerprint=folder_fingerprint(_KIND, "model_path"),
)
def kandinsky_decoder_loader(
    model_path: Annotated[str, Choices(model_choices(_KIND)), Widget(tooltip="A folder under models/decoders.")],
) -> Annotated[Any, Port("DECODER"), OutputInfo(tooltip="CLIP image embedding to a picture.")]:
    """Load a Kandinsky 2.2 decoder folder."""
    from nodes.models.unclip import load_kandinsky_decoder

    return load_folder(_NODE, _KIND, model_path, "kandinsky-decoder", load_kandinsky_decoder, "a Kandinsky 2.2 decoder folder")


LATENTLOOM_NODES = [kandinsky_decoder_loader]
