"""KandinskyPriorLoader: Kandinsky 2.2's prior from a diffusers folder in models/priors.

The folder is ``KandinskyV22PriorPipeline``'s layout: ``model_index.json``, ``prior/``, ``text_encoder/``
(``CLIPTextModelWithProjection``), ``image_encoder/`` (``CLIPVisionModelWithProjection``), ``tokenizer/``
(optional), ``scheduler/`` and ``image_processor/`` (optional). The image encoder gives the negative image
embedding (of an empty picture) and is also a CLIP_VISION for CLIPVisionEncode.
"""

from typing import Annotated, Any, NamedTuple

from nodes.api import Choices, OutputInfo, Port, Widget, folder_fingerprint, load_folder, model_choices, node

_NODE = "KandinskyPriorLoader"
_KIND = "priors"


class KandinskyPrior(NamedTuple):
    clip_text: Annotated[Any, Port("CLIP_TEXT"), OutputInfo(tooltip="The CLIP text encoder with its projection.")]
    clip_vision: Annotated[Any, Port("CLIP_VISION"), OutputInfo(tooltip="The CLIP image encoder with its projection.")]
    prior: Annotated[Any, Port("PRIOR"), OutputInfo(tooltip="Text embedding to CLIP image embedding.")]


@node(
    _NODE,
    display_name="Load Kandinsky 2.2 Prior",
    category="loaders/prior",
    description="Loads Kandinsky 2.2's prior folder: CLIP text and image encoders and the prior.",
    fingerprint=folder_fingerprint(_KIND, "model_path"),
)
def kandinsky_prior_loader(
    model_path: Annotated[str, Choices(model_choices(_KIND)), Widget(tooltip="A folder under models/priors.")],
) -> KandinskyPrior:
    """Load a Kandinsky 2.2 prior folder."""
    from nodes.models.unclip import load_kandinsky_prior

    stack = load_folder(_NODE, _KIND, model_path, "kandinsky-prior", load_kandinsky_prior, "a Kandinsky 2.2 prior folder")
    return KandinskyPrior(stack.text, stack.vision, stack.prior)


LATENTLOOM_NODES = [kandinsky_prior_loader]
