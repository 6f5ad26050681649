"""PixelSample: text to pictures with a pixel-space diffusion model (a cascade's 64 px base stage).

The UNet denoises ``[B, 3, height, width]`` pixels directly, conditioned on T5 hidden states with
classifier-free guidance, driven by its diffusers scheduler (DeepFloyd IF: DDPM with learned variances
and dynamic thresholding) and a CPU generator seeded from ``seed``
(:meth:`nodes.models.cascade.PixelModel.sample`). Defaults follow IF stage I (guidance 7) with 50 steps.
"""

from typing import Annotated, Any

from graph.context import progress
from nodes.api import Image, OutputInfo, Port, Range, Widget, node

SEED = Range(0, 0xFFFFFFFFFFFFFFFF)


@node(
    "PixelSample",
    category="sampling/cascade",
    description="Samples pictures in pixel space from T5 embeddings (Imagen / DeepFloyd IF base stage).",
)
def pixel_sample(
    model: Annotated[Any, Port("PIXEL_MODEL"), Widget(tooltip="The pixel-space model.")],
    text: Annotated[Any, Port("T5_EMBEDS"), Widget(tooltip="The prompt, from T5TextEncode.")],
    seed: Annotated[int, SEED, Widget(control_after_generate=True, tooltip="The seed of the noise.")] = 0,
    steps: Annotated[int, Range(1, 1000), Widget(tooltip="Denoising steps.")] = 50,
    guidance: Annotated[float, Range(1.0, 100.0, step=0.1, round=0.01), Widget(tooltip="Classifier-free guidance scale (1: none).")] = 7.0,
    width: Annotated[int, Range(8, 4096, step=8), Widget(tooltip="Picture width (IF stage I: 64).")] = 64,
    height: Annotated[int, Range(8, 4096, step=8), Widget(tooltip="Picture height (IF stage I: 64).")] = 64,
    batch_size: Annotated[int, Range(1, 64), Widget(tooltip="Pictures to draw.")] = 1,
) -> Annotated[Image, OutputInfo(tooltip="The pictures.")]:
    """Sample pictures."""
    return model.sample(text, seed, steps, guidance, width, height, batch_size,
                        callback=lambda step: progress(step["i"] + 1, step["total"]))


LATENTLOOM_NODES = [pixel_sample]
