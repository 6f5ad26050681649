"""CLIPTextEncodeProjected: a prompt as a text embedding in CLIP's joint text-image space.

Unlike CLIPTextEncode (the SD conditioning: per-token hidden states for a UNet's cross-attention), this
keeps what a prior and a CLIP score need: the *projected* embedding of the end-of-text token (the vector
CLIP compares with image embeddings), the last hidden states and the attention mask, for the prompt and
for the negative prompt (the unconditional side of guidance; empty by default, as unCLIP and Kandinsky
use). The value is a dict of tensors (:mod:`nodes.models.clip_joint`), so the disk cache can keep it.
"""

from typing import Annotated, Any

from nodes.api import OutputInfo, Port, Widget, node


@node(
    "CLIPTextEncodeProjected",
    display_name="CLIP Text Encode (joint space)",
    category="conditioning/prior",
    description="Encodes a prompt into CLIP's joint text-image space (projected embedding, hidden states, mask).",
)
def clip_text_encode_projected(
    clip_text: Annotated[Any, Port("CLIP_TEXT"), Widget(tooltip="A CLIP text encoder with its projection.")],
    text: Annotated[str, Widget(multiline=True, dynamic_prompts=True, tooltip="The prompt.")],
    negative: Annotated[str, Widget(multiline=True, tooltip="What guidance steers away from (empty: nothing).")] = "",
) -> Annotated[Any, Port("CLIP_TEXT_EMBEDS"), OutputInfo(tooltip="The prompt in CLIP's joint space.")]:
    """Encode a prompt and its negative."""
    if clip_text is None:
        raise ValueError("CLIPTextEncodeProjected: clip_text is None; connect a CLIP_TEXT from a prior or CLIP loader")
    return clip_text.encode(text, negative)


LATENTLOOM_NODES = [clip_text_encode_projected]
