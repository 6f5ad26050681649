"""CLIPSimilarity: how well each picture matches a prompt, in CLIP's joint text-image space.

The score of a picture is the cosine similarity between the prompt's projected embedding
(CLIPTextEncodeProjected) and the picture's (CLIPVisionEncode), in [-1, 1]; CLIPScore (Hessel et al.
2021) and most tools report ``100 * max(cos, 0)``, which orders pictures the same way. Both embeddings
must come from one CLIP model's towers (the widths are checked; a model's text tower with another's
vision tower gives meaningless numbers even when the widths agree).
"""

from typing import Annotated, Any, NamedTuple

from nodes.api import ClipVisionOutput, OutputInfo, Port, node


class Similarity(NamedTuple):
    scores: Annotated[Any, Port("CLIP_SCORES"), OutputInfo(tooltip="One cosine similarity per picture, in batch order.")]
    text: Annotated[str, OutputInfo(tooltip="The scores as text, one line per picture.")]


@node(
    "CLIPSimilarity",
    category="conditioning/clip",
    description="Scores pictures against a prompt: cosine similarity of their CLIP embeddings.",
)
def clip_similarity(
    text: Annotated[Any, Port("CLIP_TEXT_EMBEDS")],
    images: ClipVisionOutput,
) -> Similarity:
    """Score each picture against the prompt."""
    from nodes.models.clip_joint import cosine_scores

    scores = [round(float(s), 6) for s in cosine_scores(text["embeds"], images["image_embeds"])]
    lines = [f"{i}: {s:.4f}" for i, s in enumerate(scores)]
    return Similarity(scores, "\n".join(lines))


LATENTLOOM_NODES = [clip_similarity]
