"""CLIPVisionEncode: pictures into CLIP's joint space (ComfyUI's node: same inputs and output type).

Each picture is resized to the tower's input size (bicubic, antialiased), center-cropped (``crop=center``)
or squashed (``none``), normalised with CLIP's mean and std, and encoded; the output carries
``image_embeds`` (projected, joint space), ``last_hidden_state`` and ``penultimate_hidden_states``, by key
or attribute, as ComfyUI's CLIP_VISION_OUTPUT does.
"""

from typing import Annotated, Literal

from nodes.api import ClipVision, ClipVisionOutput, Image, node


@node(
    "CLIPVisionEncode",
    display_name="CLIP Vision Encode",
    category="conditioning",
    description="Encodes pictures with a CLIP vision tower into CLIP's joint text-image space.",
)
def clip_vision_encode(
    clip_vision: ClipVision,
    image: Image,
    crop: Literal["center", "none"] = "center",
) -> ClipVisionOutput:
    """Encode pictures."""
    if clip_vision is None:
        raise ValueError("CLIPVisionEncode: clip_vision is None; connect a CLIP_VISION from a CLIP or prior loader")
    if not hasattr(clip_vision, "encode"):
        raise TypeError(f"CLIPVisionEncode: clip_vision is a {type(clip_vision).__name__}, not a CLIP vision tower")
    return clip_vision.encode(image, crop)


LATENTLOOM_NODES = [clip_vision_encode]
