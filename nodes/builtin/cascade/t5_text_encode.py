"""T5TextEncode: a prompt (and its negative) as T5 hidden states, for a pixel-space cascade.

Encodes with the cascade's lazy T5 encoder: prompts not seen before go through the model in one batch,
with its weights loaded for that call only (through the runtime's model manager) and released after;
the encodings stay cached in the handle, and this node's result in the graph's cache
(:class:`nodes.models.cascade.T5Encoder`). The negative prompt (empty by default, as DeepFloyd IF uses)
is the unconditional side of guidance.
"""

from typing import Annotated, Any

from nodes.api import OutputInfo, Port, Widget, node


@node(
    "T5TextEncode",
    display_name="T5 Text Encode",
    category="conditioning/cascade",
    description="Encodes a prompt with a T5 encoder (loaded for the call, then released; encodings cached).",
)
def t5_text_encode(
    t5: Annotated[Any, Port("T5_ENCODER"), Widget(tooltip="The cascade's T5 encoder.")],
    text: Annotated[str, Widget(multiline=True, dynamic_prompts=True, tooltip="The prompt.")],
    negative: Annotated[str, Widget(multiline=True, tooltip="What guidance steers away from (empty: nothing).")] = "",
) -> Annotated[Any, Port("T5_EMBEDS"), OutputInfo(tooltip="T5 hidden states of the prompt and the negative.")]:
    """Encode a prompt and its negative."""
    return t5.encode_pair(text, negative)


LATENTLOOM_NODES = [t5_text_encode]
