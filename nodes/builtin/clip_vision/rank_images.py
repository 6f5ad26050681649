"""RankImages: a batch of pictures ordered by score, best first, keeping the top ``keep``.

With CLIPSimilarity this is "generate N, keep the best by CLIP score". Ties keep batch order. The kept
scores come out in the same order, for display or a second ranking.
"""

from typing import Annotated, Any, NamedTuple

from nodes.api import Image, OutputInfo, Port, Range, Widget, node


class Ranked(NamedTuple):
    images: Annotated[Image, OutputInfo(tooltip="The best pictures, best first.")]
    scores: Annotated[Any, Port("CLIP_SCORES"), OutputInfo(tooltip="Their scores, in the same order.")]


@node(
    "RankImages",
    category="image/clip",
    description="Orders a batch of pictures by score (best first) and keeps the top k.",
)
def rank_images(
    images: Image,
    scores: Annotated[Any, Port("CLIP_SCORES"), Widget(tooltip="One score per picture, from CLIPSimilarity.")],
    keep: Annotated[int, Range(1, 4096), Widget(tooltip="How many pictures to keep.")] = 1,
) -> Ranked:
    """Rank and keep the top ``keep``."""
    values = [float(s) for s in scores]
    if len(values) != images.shape[0]:
        raise ValueError(f"RankImages: {len(values)} scores for {images.shape[0]} pictures; score this batch itself")
    order = sorted(range(len(values)), key=lambda i: (-values[i], i))[:keep]
    return Ranked(images[order], [values[i] for i in order])


LATENTLOOM_NODES = [rank_images]
