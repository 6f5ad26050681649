"""CascadeBaseLoader: the base stage of an Imagen-style cascade (DeepFloyd IF stage I) from models/cascades.

The folder is ``IFPipeline``'s layout: ``model_index.json``, ``text_encoder/`` (``T5EncoderModel``),
``tokenizer/`` (``spiece.model`` or ``tokenizer.json``), ``unet/`` (a 64 px pixel-space UNet) and
``scheduler/``. The T5 encoder is a lazy handle: its weights are read only while T5TextEncode encodes a
new prompt, and released after (:mod:`nodes.models.cascade`).
"""

from typing import Annotated, Any, NamedTuple

from nodes.api import Choices, OutputInfo, Port, Widget, folder_fingerprint, load_folder, model_choices, node

_NODE = "CascadeBaseLoader"
_KIND = "cascades"


class CascadeBase(NamedTuple):
    t5: Annotated[Any, Port("T5_ENCODER"), OutputInfo(tooltip="The T5 text encoder (loaded only while encoding).")]
    model: Annotated[Any, Port("PIXEL_MODEL"), OutputInfo(tooltip="The 64 px pixel-space diffusion model.")]


@node(
    _NODE,
    display_name="Load Cascade Base (Imagen / IF stage I)",
    category="loaders/cascade",
    description="Loads the base stage of a pixel-space cascade (DeepFloyd IF stage I): T5 encoder and 64 px UNet.",
    fingerprint=folder_fingerprint(_KIND, "model_path"),
)
def cascade_base_loader(
    model_path: Annotated[str, Choices(model_choices(_KIND)), Widget(tooltip="A folder under models/cascades.")],
) -> CascadeBase:
    """Load a stage-I cascade folder."""
    from nodes.models.cascade import load_cascade_base

    t5, model = load_folder(_NODE, _KIND, model_path, "cascade-base", load_cascade_base, "a stage-I cascade folder")
    return CascadeBase(t5, model)


LATENTLOOM_NODES = [cascade_base_loader]
