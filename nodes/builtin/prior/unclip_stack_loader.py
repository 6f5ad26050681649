"""UnCLIPStackLoader: a DALL-E 2-style stack (unCLIP / Karlo) from a diffusers folder in models/priors.

The folder is ``UnCLIPPipeline``'s layout: ``model_index.json``, ``text_encoder/``
(``CLIPTextModelWithProjection``), ``tokenizer/`` (optional), ``prior/`` + ``prior_scheduler/``,
``text_proj/``, ``decoder/`` + ``decoder_scheduler/``, ``super_res_first/`` + ``super_res_last/`` +
``super_res_scheduler/`` (details and the shape checks in :mod:`nodes.models.unclip`). Nothing is fetched;
a folder loaded twice shares its weights (the runtime's model cache).
"""

from typing import Annotated, Any, NamedTuple

from graph.context import runtime
from nodes.api import Choices, OutputInfo, Port, Widget, node

_NODE = "UnCLIPStackLoader"
_KIND = "priors"


def prior_folders() -> list[str]:
    """Folders with a ``model_index.json`` under models/priors (the COMBO's choices)."""
    services = runtime()
    return [] if services is None else services.folders.list_models(_KIND)


def _fingerprint(model_path: str) -> str:
    from nodes.models.cache import file_signature

    _, newest, size = file_signature(runtime().folders.find_model(_KIND, model_path))
    return f"{newest}:{size}"


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
    fingerprint=_fingerprint,
)
def unclip_stack_loader(
    model_path: Annotated[str, Choices(prior_folders), Widget(tooltip="A folder under models/priors.")],
) -> UnCLIPStack:
    """Load an unCLIP folder."""
    from nodes.models.parts import load_cached
    from nodes.models.unclip import load_unclip_stack

    services = runtime()
    if services is None:
        raise RuntimeError(f"{_NODE} needs the application's folders; run it through an Engine built by build_runtime")
    try:
        path = services.folders.find_model(_KIND, model_path)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{_NODE}: model_path {model_path!r}: {exc}") from exc
    try:
        stack = load_cached("unclip", path, services, load_unclip_stack)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{_NODE}: model_path {model_path!r} is not an unCLIP folder this engine can load: {exc}") from exc
    return UnCLIPStack(stack.text, stack.prior, stack.decoder, stack.super_res)


LATENTLOOM_NODES = [unclip_stack_loader]
