"""KSampler: denoise a latent with a model, positive and negative conditioning (ComfyUI's node).

The model manager keeps the UNet resident (or streams it) and reserves the working memory of one step,
estimated from the latent area, the batch and whether guidance doubles it
(:func:`nodes.memory.estimates.sampling_memory`); out of memory, it retries once with more of the UNet
streamed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from nodes.api import Conditioning, Latent, Model, OutputInfo, Range, Widget, node
from nodes.builtin.sampling.step_reports import step_callback
from nodes.sampling.names import SAMPLER_NAMES, SCHEDULER_NAMES

SamplerName = Literal[SAMPLER_NAMES]  # type: ignore[valid-type]
SchedulerName = Literal[SCHEDULER_NAMES]  # type: ignore[valid-type]
SEED = Range(0, 0xFFFFFFFFFFFFFFFF)


@node(
    "KSampler",
    category="sampling",
    description="Uses the provided model, positive and negative conditioning to denoise the latent image.",
)
def ksampler(
    model: Annotated[Model, Widget(tooltip="The model used for denoising the input latent.")],
    seed: Annotated[int, SEED, Widget(control_after_generate=True, tooltip="The random seed used for creating the noise.")] = 0,
    steps: Annotated[int, Range(1, 10000), Widget(tooltip="The number of steps used in the denoising process.")] = 20,
    cfg: Annotated[float, Range(0.0, 100.0, step=0.1, round=0.01), Widget(tooltip="Classifier-free guidance scale.")] = 8.0,
    sampler_name: Annotated[SamplerName, Widget(tooltip="The algorithm used when sampling.")] = "euler",
    scheduler: Annotated[SchedulerName, Widget(tooltip="How the noise levels are spaced over the steps.")] = "simple",
    *,
    positive: Annotated[Conditioning, Widget(tooltip="What to include in the image.")],
    negative: Annotated[Conditioning, Widget(tooltip="What to exclude from the image.")],
    latent_image: Annotated[Latent, Widget(tooltip="The latent image to denoise.")],
    denoise: Annotated[float, Range(0.0, 1.0, step=0.01), Widget(tooltip="How much of the schedule to run; below 1 keeps part of the input.")] = 1.0,
) -> Annotated[Latent, OutputInfo(tooltip="The denoised latent.")]:
    """Sample with KSampler semantics (comfyui-reference 7.1 and 7.2)."""
    from nodes.sampling import ksampler as sample

    def run(diffusion: Any) -> Any:
        return sample(
            diffusion, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent_image, denoise,
            callback=step_callback(diffusion.family),
        )

    working = model.sampling_memory(latent_image["samples"].shape, cfg)
    return model.run(run, working=working, what="KSampler")


LATENTLOOM_NODES = [ksampler]
