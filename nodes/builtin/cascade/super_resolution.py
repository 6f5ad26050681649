"""SuperResolution: a picture, the prompt and a noise-augmentation level to a larger picture.

* DeepFloyd IF stage II (CascadeSuperResLoader): the low-resolution picture is upscaled, noised to
  ``noise_level`` (0-999; IF's default 250) and given to the UNet beside the sample, with the level as
  its class label; the UNet reads the prompt's T5 states (``text``, required) with guidance.
* unCLIP (UnCLIPStackLoader): two UNets see only the noisy and the upscaled picture; they were trained
  without a prompt or augmentation, so ``text``, ``guidance`` and ``noise_level`` are not read (a
  warning says so when a prompt is connected).

Each runs its diffusers scheduler with a CPU generator seeded from ``seed``. Defaults: 256 px, 25 steps.
"""

import logging
from typing import Annotated, Any

from graph.context import progress
from nodes.api import Image, OutputInfo, Port, Range, Widget, node

SEED = Range(0, 0xFFFFFFFFFFFFFFFF)
logger = logging.getLogger(__name__)


@node(
    "SuperResolution",
    category="sampling/cascade",
    description="Upscales pictures with a diffusion super-resolution stage (IF stage II with noise augmentation, "
    "or unCLIP's).",
)
def super_resolution(
    model: Annotated[Any, Port("SUPER_RES_MODEL"), Widget(tooltip="The super-resolution stage.")],
    image: Annotated[Image, Widget(tooltip="The low-resolution pictures.")],
    seed: Annotated[int, SEED, Widget(control_after_generate=True, tooltip="The seed of the noise.")] = 0,
    steps: Annotated[int, Range(1, 1000), Widget(tooltip="Denoising steps.")] = 25,
    guidance: Annotated[float, Range(1.0, 100.0, step=0.1, round=0.01), Widget(tooltip="Classifier-free guidance scale (1: none).")] = 4.0,
    noise_level: Annotated[int, Range(0, 999), Widget(tooltip="How much noise the low-resolution picture gets before conditioning (augmentation level).")] = 250,
    width: Annotated[int, Range(16, 8192, step=8), Widget(tooltip="Output width.")] = 256,
    height: Annotated[int, Range(16, 8192, step=8), Widget(tooltip="Output height.")] = 256,
    text: Annotated[Any, Port("T5_EMBEDS"), Widget(tooltip="The prompt (IF stage II reads it).")] | None = None,
) -> Annotated[Image, OutputInfo(tooltip="The upscaled pictures.")]:
    """Upscale pictures."""
    if model.needs_text and text is None:
        raise ValueError("SuperResolution: this stage reads the prompt; connect T5_EMBEDS to 'text'")
    if not model.needs_text and text is not None:
        logger.warning("SuperResolution: %s's super-resolution takes no prompt; 'text' is not read", model.space)
    return model.upscale(image, text, seed, steps, guidance, noise_level, width, height,
                         callback=lambda step: progress(step["i"] + 1, step["total"]))


LATENTLOOM_NODES = [super_resolution]
