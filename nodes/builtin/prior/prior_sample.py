"""PriorSample: a CLIP text embedding to CLIP image embeddings (the DALL-E 2 prior), with its own seed.

The prior (a ``PriorTransformer``) denoises a CLIP image embedding conditioned on the prompt's projected
embedding and hidden states, with classifier-free guidance against the negative prompt, driven by its
diffusers scheduler (``UnCLIPScheduler``) and a CPU generator seeded from ``seed``
(:meth:`nodes.models.unclip.Prior.sample`). ``batch_size`` embeddings are drawn (one decoded picture
each). Defaults are Karlo's: 25 steps, guidance 4.
"""

from typing import Annotated, Any

from graph.context import progress
from nodes.api import OutputInfo, Port, Range, Widget, node

SEED = Range(0, 0xFFFFFFFFFFFFFFFF)


@node(
    "PriorSample",
    category="sampling/prior",
    description="Samples CLIP image embeddings from a CLIP text embedding with a prior (DALL-E 2's first stage).",
)
def prior_sample(
    prior: Annotated[Any, Port("PRIOR"), Widget(tooltip="The prior.")],
    text: Annotated[Any, Port("CLIP_TEXT_EMBEDS"), Widget(tooltip="The prompt, encoded by the prior's CLIP text encoder.")],
    seed: Annotated[int, SEED, Widget(control_after_generate=True, tooltip="The seed of the prior's noise.")] = 0,
    steps: Annotated[int, Range(1, 1000), Widget(tooltip="Denoising steps of the prior.")] = 25,
    guidance: Annotated[float, Range(1.0, 100.0, step=0.1, round=0.01), Widget(tooltip="Classifier-free guidance scale (1: none).")] = 4.0,
    batch_size: Annotated[int, Range(1, 64), Widget(tooltip="Image embeddings to draw.")] = 1,
) -> Annotated[Any, Port("IMAGE_EMBEDS"), OutputInfo(tooltip="CLIP image embeddings (and the negative ones).")]:
    """Sample image embeddings."""
    return prior.sample(text, seed, steps, guidance, batch_size,
                        callback=lambda step: progress(step["i"] + 1, step["total"]))


LATENTLOOM_NODES = [prior_sample]
