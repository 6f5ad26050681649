"""LoraLoader: a LoRA from models/loras applied to MODEL and CLIP ("Load LoRA").

Returns clones that share the input's weights and carry the LoRA as weight patches; nothing is computed
until the model is used (see :mod:`nodes.models.patching`).  kohya, diffusers/PEFT and ComfyUI key
layouts are read (:mod:`nodes.models.lora`); keys that fit no module are an error listing them.  A
strength of 0 leaves that part as it is (both 0: the file is not even read).
"""

from typing import Annotated

from nodes.api import Choices, Clip, Model, OutputInfo, Range, Widget, find_model, model_choices, node

_STRENGTH_MODEL = "How strongly to modify the diffusion model. This value can be negative."
_STRENGTH_CLIP = "How strongly to modify the CLIP model. This value can be negative."
_NODE = "LoraLoader"


@node(
    _NODE,
    display_name="Load LoRA",
    category="loaders",
    description="LoRAs modify diffusion and CLIP models, altering the way latents are denoised (styles, "
    "subjects). Several can be chained.",
)
def lora_loader(
    model: Annotated[Model, Widget(tooltip="The diffusion model the LoRA will be applied to.")],
    clip: Annotated[Clip, Widget(tooltip="The CLIP model the LoRA will be applied to.")],
    lora_name: Annotated[str, Choices(model_choices("loras")), Widget(tooltip="The name of the LoRA.")],
    strength_model: Annotated[
        float, Range(-100.0, 100.0, step=0.01), Widget(tooltip=_STRENGTH_MODEL)
    ] = 1.0,
    strength_clip: Annotated[
        float, Range(-100.0, 100.0, step=0.01), Widget(tooltip=_STRENGTH_CLIP)
    ] = 1.0,
) -> tuple[
    Annotated[Model, OutputInfo(tooltip="The modified diffusion model.")],
    Annotated[Clip, OutputInfo(tooltip="The modified CLIP model.")],
]:
    """Apply a LoRA to a model and its CLIP."""
    from nodes.models.lora import load_lora_for_models

    if strength_model == 0 and strength_clip == 0:
        return model, clip
    _, path = find_model(_NODE, "loras", "lora_name", lora_name)
    try:
        new_model, new_clip = load_lora_for_models(path, model, clip, strength_model, strength_clip)
    except Exception as exc:
        raise ValueError(f"{_NODE}: lora_name {lora_name!r} does not fit the model and clip inputs: {exc}") from exc
    return new_model, new_clip


LATENTLOOM_NODES = [lora_loader]
