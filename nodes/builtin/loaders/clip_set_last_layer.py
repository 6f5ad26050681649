"""CLIPSetLastLayer: condition on an earlier hidden layer of the text encoders ("clip skip").

-1 is the last layer, -2 the penultimate and so on; it applies to every encoder of the CLIP (both of
SDXL's).  As in ComfyUI, a layer beyond an encoder's depth means its final output, and the final
LayerNorm is applied to the chosen layer for SD1 and SD2 but not SDXL (see :mod:`nodes.models.handles`).
"""

from typing import Annotated

from nodes.api import Clip, Range, node


@node("CLIPSetLastLayer", display_name="CLIP Set Last Layer", category="conditioning")
def clip_set_last_layer(
    clip: Clip,
    stop_at_clip_layer: Annotated[int, Range(-24, -1, step=1)] = -1,
) -> Clip:
    """Choose the text encoders' output layer (clip skip)."""
    return clip.with_layer(stop_at_clip_layer)


LATENTLOOM_NODES = [clip_set_last_layer]
