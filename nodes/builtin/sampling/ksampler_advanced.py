"""KSamplerAdvanced ("KSampler (Advanced)"): KSampler with start/end steps and leftover noise control."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from nodes.api import Conditioning, Latent, Model, Range, Widget, node
from nodes.builtin.sampling.ksampler import SEED, SamplerName, SchedulerName
from nodes.builtin.sampling.step_reports import step_callback

Toggle = Literal["enable", "disable"]


@node(
    "KSamplerAdvanced",
    display_name="KSampler (Advanced)",
    category="sampling",
    description="KSampler that runs only steps start_at_step..end_at_step of the schedule, optionally "
    "without adding noise first or leaving the remaining noise in the result (for multi-stage sampling).",
)
def ksampler_advanced(
    model: Model,
    add_noise: Toggle = "enable",
    noise_seed: Annotated[int, SEED, Widget(control_after_generate=True)] = 0,
    steps: Annotated[int, Range(1, 10000)] = 20,
    cfg: Annotated[float, Range(0.0, 100.0, step=0.1, round=0.01)] = 8.0,
    sampler_name: SamplerName = "euler",
    scheduler: SchedulerName = "simple",
    *,
    positive: Conditioning,
    negative: Conditioning,
    latent_image: Latent,
    start_at_step: Annotated[int, Range(0, 10000)] = 0,
    end_at_step: Annotated[int, Range(0, 10000)] = 10000,
    return_with_leftover_noise: Toggle = "disable",
) -> Latent:
    """Sample a slice of the schedule (comfyui-reference 7.3)."""
    from nodes.sampling import ksampler_advanced as sample

    def run(diffusion: Any) -> Any:
        return sample(
            diffusion, add_noise, noise_seed, steps, cfg, sampler_name, scheduler, positive, negative, latent_image,
            start_at_step, end_at_step, return_with_leftover_noise, callback=step_callback(diffusion.family),
        )

    working = model.sampling_memory(latent_image["samples"].shape, cfg)
    return model.run(run, working=working, what="KSamplerAdvanced")


LATENTLOOM_NODES = [ksampler_advanced]
