"""KandinskyDecoderLoader: Kandinsky 2.2's decoder (UNet + MoVQ) from a diffusers folder in models/decoders.

The folder is ``KandinskyV22Pipeline``'s layout: ``model_index.json``, ``unet/`` (conditioned on image
embeddings only), ``movq/`` (``VQModel``) and ``scheduler/``.
"""

from typing import Annotated, Any

from graph.context import runtime
from nodes.api import Choices, OutputInfo, Port, Widget, node

_NODE = "KandinskyDecoderLoader"
_KIND = "decoders"


def decoder_folders() -> list[str]:
    """Folders with a ``model_index.json`` under models/decoders (the COMBO's choices)."""
    services = runtime()
    return [] if services is None else services.folders.list_models(_KIND)


def _fingerprint(model_path: str) -> str:
    from nodes.models.cache import file_signature

    _, newest, size = file_signature(runtime().folders.find_model(_KIND, model_path))
    return f"{newest}:{size}"


@node(
    _NODE,
    display_name="Load Kandinsky 2.2 Decoder",
    category="loaders/prior",
    description="Loads Kandinsky 2.2's decoder folder: a UNet conditioned on image embeddings and MoVQ.",
    fingerprint=_fingerprint,
)
def kandinsky_decoder_loader(
    model_path: Annotated[str, Choices(decoder_folders), Widget(tooltip="A folder under models/decoders.")],
) -> Annotated[Any, Port("DECODER"), OutputInfo(tooltip="CLIP image embedding to a picture.")]:
    """Load a Kandinsky 2.2 decoder folder."""
    from nodes.models.parts import load_cached
    from nodes.models.unclip import load_kandinsky_decoder

    services = runtime()
    if services is None:
        raise RuntimeError(f"{_NODE} needs the application's folders; run it through an Engine built by build_runtime")
    try:
        path = services.folders.find_model(_KIND, model_path)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{_NODE}: model_path {model_path!r}: {exc}") from exc
    try:
        return load_cached("kandinsky-decoder", path, services, load_kandinsky_decoder)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{_NODE}: model_path {model_path!r} is not a Kandinsky 2.2 decoder folder: {exc}") from exc


LATENTLOOM_NODES = [kandinsky_decoder_loader]
