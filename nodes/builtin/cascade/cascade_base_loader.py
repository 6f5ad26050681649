"""CascadeBaseLoader: the base stage of an Imagen-style cascade (DeepFloyd IF stage I) from models/cascades.

The folder is ``IFPipeline``'s layout: ``model_index.json``, ``text_encoder/`` (``T5EncoderModel``),
``tokenizer/`` (``spiece.model`` or ``tokenizer.json``), ``unet/`` (a 64 px pixel-space UNet) and
``scheduler/``. The T5 encoder is a lazy handle: its weights are read only while T5TextEncode encodes a
new prompt, and released after (:mod:`nodes.models.cascade`).
"""

from typing import Annotated, Any, NamedTuple

from graph.context import runtime
from nodes.api import Choices, OutputInfo, Port, Widget, node

_NODE = "CascadeBaseLoader"
_KIND = "cascades"


def cascade_folders() -> list[str]:
    """Folders with a ``model_index.json`` under models/cascades (the COMBO's choices)."""
    services = runtime()
    return [] if services is None else services.folders.list_models(_KIND)


def _fingerprint(model_path: str) -> str:
    from nodes.models.cache import file_signature

    _, newest, size = file_signature(runtime().folders.find_model(_KIND, model_path))
    return f"{newest}:{size}"


class CascadeBase(NamedTuple):
    t5: Annotated[Any, Port("T5_ENCODER"), OutputInfo(tooltip="The T5 text encoder (loaded only while encoding).")]
    model: Annotated[Any, Port("PIXEL_MODEL"), OutputInfo(tooltip="The 64 px pixel-space diffusion model.")]


@node(
    _NODE,
    display_name="Load Cascade Base (Imagen / IF stage I)",
    category="loaders/cascade",
    description="Loads the base stage of a pixel-space cascade (DeepFloyd IF stage I): T5 encoder and 64 px UNet.",
    fingerprint=_fingerprint,
)
def cascade_base_loader(
    model_path: Annotated[str, Choices(cascade_folders), Widget(tooltip="A folder under models/cascades.")],
) -> CascadeBase:
    """Load a stage-I cascade folder."""
    from nodes.models.cascade import load_cascade_base
    from nodes.models.parts import load_cached

    services = runtime()
    if services is None:
        raise RuntimeError(f"{_NODE} needs the application's folders; run it through an Engine built by build_runtime")
    try:
        path = services.folders.find_model(_KIND, model_path)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{_NODE}: model_path {model_path!r}: {exc}") from exc
    try:
        t5, model = load_cached("cascade-base", path, services, load_cascade_base)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{_NODE}: model_path {model_path!r} is not a stage-I cascade folder: {exc}") from exc
    return CascadeBase(t5, model)


LATENTLOOM_NODES = [cascade_base_loader]
