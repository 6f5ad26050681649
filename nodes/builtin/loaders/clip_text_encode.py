"""CLIPTextEncode: a prompt as CONDITIONING ``[[cond, {"pooled_output": pooled}]]``.

``cond`` is ``[1, 77 * chunks, dim]`` and ``pooled`` ``[1, dim]``, float32 on the CPU.  Prompt
weighting (``(word:1.2)``, ``((word))``, ``[word]``, escapes), 75-token chunks for long prompts and the
per-family layers are described in :mod:`nodes.models.prompt` and :mod:`nodes.models.handles`.
"""

from typing import Annotated

from nodes.api import Clip, Conditioning, OutputInfo, Widget, node


@node(
    "CLIPTextEncode",
    display_name="CLIP Text Encode (Prompt)",
    category="conditioning",
    description="Encodes a text prompt using a CLIP model into an embedding that can be used to guide the "
    "diffusion model towards generating specific images.",
)
def clip_text_encode(
    text: Annotated[str, Widget(multiline=True, dynamic_prompts=True, tooltip="The text to be encoded.")],
    clip: Annotated[Clip, Widget(tooltip="The CLIP model used for encoding the text.")],
) -> Annotated[
    Conditioning,
    OutputInfo(tooltip="A conditioning containing the embedded text used to guide the diffusion model."),
]:
    """Encode a prompt."""
    if clip is None:
        raise ValueError(
            "CLIPTextEncode: clip input is invalid: None. If the clip is from a checkpoint loader node, the "
            "checkpoint does not contain a valid text encoder."
        )
    cond, pooled = clip.encode(text)
    return [[cond, {"pooled_output": pooled}]]


LATENTLOOM_NODES = [clip_text_encode]
