"""KandinskyPriorLoader: Kandinsky 2.2's prior from a diffusers folder in models/priors.

The folder is ``KandinskyV22PriorPipeline``'s layout: ``model_index.json``, ``prior/``, ``text_encoder/``
(``CLIPTextModelWithProjection``), ``image_encoder/`` (``CLIPVisionModelWithProjection``), ``tokenizer/``
(optional), ``scheduler/`` and ``image_processor/`` (optional). The image encoder gives the negative image
embedding (of an empty picture) and is also a CLIP_VISION for CLIPVisionEncode.
"""

from typing import Annotated, Any, NamedTuple

from graph.context import runtime
from nodes.api import Choices, OutputInfo, Port, Widget, node

_NODE = "KandinskyPriorLoader"
_KIND = "priors"


def prior_folders() -> list[str]:
    """Folders with a ``model_index.json`` under models/priors (the COMBO's choices)."""
    services = runtime()
    return [] if services is None else services.folders.list_models(_KIND)


def _fingerprint(model_path: str) -> str:
    from nodes.models.cache import file_signature

    _, newest, size = file_signature(runtime().folders.find_model(_KIND, model_path))
    return f"{newest}:{size}"


class KandinskyPrior(NamedTuple):
    clip_text: Annotated[Any, Port("CLIP_TEXT"), OutputInfo(tooltip="The CLIP text encoder with its projection.")]
    clip_vision: Annotated[Any, Port("CLIP_VISION"), OutputInfo(tooltip="The CLIP image encoder with its projection.")]
    prior: Annotated[Any, Port("PRIOR"), OutputInfo(tooltip="Text embedding to CLIP image embedding.")]


@node(
    _NODE,
    display_name="Load Kandinsky 2.2 Prior",
    category="loaders/prior",
    description="Loads Kandinsky 2.2's prior folder: CLIP text and image encoders and the prior.",
    fingerprint=_fingerprint,
)
def kandinsky_prior_loader(
    model_path: Annotated[str, Choices(prior_folders), Widget(tooltip="A folder under models/priors.")],
) -> KandinskyPrior:
    """Load a Kandinsky 2.2 prior folder."""
    from nodes.models.parts import load_cached
    from nodes.models.unclip import load_kandinsky_prior

    services = runtime()
    if services is None:
        raise RuntimeError(f"{_NODE} needs the application's folders; run it through an Engine built by build_runtime")
    try:
        path = services.folders.find_model(_KIND, model_path)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{_NODE}: model_path {model_path!r}: {exc}") from exc
    try:
        stack = load_cached("kandinsky-prior", path, services, load_kandinsky_prior)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{_NODE}: model_path {model_path!r} is not a Kandinsky 2.2 prior folder: {exc}") from exc
    return KandinskyPrior(stack.text, stack.vision, stack.prior)


LATENTLOOM_NODES = [kandinsky_prior_loader]
