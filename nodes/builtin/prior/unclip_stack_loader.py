"""UnCLIPStackLoader: a DALL-E 2-style stack (unCLIP / Karlo) from a diffusers folder in models/priors.

The folder is ``UnCLIPPipeline``'s layout: ``model_index.json``, ``text_encoder/``
(``CLIPTextModelWithProjection``), ``tokenizer/`` (optional), ``prior/`` + ``prior_scheduler/``,
``text_proj/``, ``decoder/`` + ``decoder_scheduler/``, ``super_res_first/`` + ``super_res_last/`` +
``super_res_scheduler/`` (details and the shape checks in :mod:`nodes.models.unclip`). Nothing is fetched;
a folder loaded twice shares its weights (the runtime's model cache).
"""

from typing import Annotated, Any, NamedTuple

from nodes.api import Choices, OutputInfo, Port, Widget, folder_fingerprint, load_folder, model_choices, node

_NODE = "UnCLIPStackLoader"
_KIND = "priors"


class UnCLIPStack(NamedTuple):
    clip_text: Annotated[Any, Port("CLIP_TEXT"), OutputInfo(tooltip="The CLIP text encoder with its projection.")]
    prior: Annotated[Any, Port("PRIOR"), OutputInfo(tooltip="Text embedding to CLIP image embedding.")]
    decoder: Annotated[Any, Port("DECODER"), OutputInfo(tooltip="CLIP image embedding (and text) to a 64 px picture.")]
    super_res: Annotated[Any, Port("SUPER_RES_MODEL"), OutputInfo(tooltip="64 px to 256 px.")]


@node(
    _NODE,
    display_name="Load unCLIP Stack (DALL-E 2)",
    category="loaders/prior",
    description="Loads a DALL-E 2-style diffusers folder (unCLIP / Karlo): CLIP text encoder, prior, decoder "
    "and super-resolution.",
    fingerprint=folder_fingerprint(_KIND, "model_path"),
)
def unclip_stack_loader(
    model_path: Annotated[str, Choices(model_choices(_KIND)), Widget(tooltip="A folder under models/priors.")],
) -> UnCLIPStack:
    """Load an unCLIP folder."""
    from nodes.models.unclip import load_unclip_stack

    stack = load_folder(_NODE, _KIND, model_path, "unclip", load_unclip_stack, "an unCLIP folder this engine can load")
    return UnCLIPStack(stack.text, stack.prior, stack.decoder, stack.super_res)


LATENTLOOM_NODES = [unclip_stack_loader]
