"""LoraLoaderModelOnly: a LoRA from models/loras applied to MODEL only.

Text-encoder keys of the file are skipped; the UNet keys must all fit (see :mod:`nodes.models.lora`).
"""

from typing import Annotated

from graph.context import runtime
from nodes.api import Choices, Model, OutputInfo, Range, Widget, node

_STRENGTH_MODEL = "How strongly to modify the diffusion model. This value can be negative."
_NODE = "LoraLoaderModelOnly"


def lora_names() -> list[str]:
    """Files in the loras folders (the COMBO's choices)."""
    services = runtime()
    return [] if services is None else services.folders.list_models("loras")


@node(_NODE, category="loaders", description="Applies a LoRA to the diffusion model only.")
def lora_loader_model_only(
    model: Annotated[Model, Widget(tooltip="The diffusion model the LoRA will be applied to.")],
    lora_name: Annotated[str, Choices(lora_names), Widget(tooltip="The name of the LoRA.")],
    strength_model: Annotated[
        float, Range(-100.0, 100.0, step=0.01), Widget(tooltip=_STRENGTH_MODEL)
    ] = 1.0,
) -> Annotated[Model, OutputInfo(tooltip="The modified diffusion model.")]:
    """Apply a LoRA to a model."""
    from nodes.models.lora import load_lora_for_models

    if strength_model == 0:
        return model
    services = runtime()
    if services is None:
        raise RuntimeError(f"{_NODE} needs the application's folders; run it through an Engine built by build_runtime")
    try:
        path = services.folders.find_model("loras", lora_name)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{_NODE}: lora_name {lora_name!r}: {exc}") from exc
    try:
        new_model, _ = load_lora_for_models(path, model, None, strength_model, 0.0)
    except Exception as exc:
        raise ValueError(f"{_NODE}: lora_name {lora_name!r} does not fit the model input: {exc}") from exc
    return new_model


LATENTLOOM_NODES = [lora_loader_model_only]
