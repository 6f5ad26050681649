"""LoraLoaderModelOnly: a LoRA from models/loras applied to MODEL only.

Text-encoder keys of the file are skipped; the UNet keys must all fit (see :mod:`nodes.models.lora`).
"""

from typing import Annotated

from nodes.api import Choices, Model, OutputInfo, Range, Widget, find_model, model_choices, node

_STRENGTH_MODEL = "How strongly to modify the diffusion model. This value can be negative."
_NODE = "LoraLoaderModelOnly"


@node(_NODE, category="loaders", description="Applies a LoRA to the diffusion model only.")
def lora_loader_model_only(
    model: Annotated[Model, Widget(tooltip="The diffusion model the LoRA will be applied to.")],
    lora_name: Annotated[str, Choices(model_choices("loras")), Widget(tooltip="The name of the LoRA.")],
    strength_model: Annotated[
        float, Range(-100.0, 100.0, step=0.01), Widget(tooltip=_STRENGTH_MODEL)
    ] = 1.0,
) -> Annotated[Model, OutputInfo(tooltip="The modified diffusion model.")]:
    """Apply a LoRA to a model."""
    from nodes.models.lora import load_lora_for_models

    if strength_model == 0:
        return model
    _, path = find_model(_NODE, "loras", "lora_name", lora_name)
    try:
        new_model, _ = load_lora_for_models(path, model, None, strength_model, 0.0)
    except Exception as exc:
        raise ValueError(f"{_NODE}: lora_name {lora_name!r} does not fit the model input: {exc}") from exc
    return new_model


LATENTLOOM_NODES = [lora_loader_model_only]
