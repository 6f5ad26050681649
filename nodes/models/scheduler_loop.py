"""The sampling loop of the prior and cascade stacks: a diffusers scheduler walked step by step.

The priors, the unCLIP / Kandinsky decoders and the pixel-space cascade were trained with DDPM-family
schedules (DDPM, Ho et al. 2020; the cosine schedule and learned variances of Nichol & Dhariwal 2021)
and are sampled with diffusers' own ``UnCLIPScheduler`` / ``DDPMScheduler`` step rules, exactly as
their pipelines do, rather than with the k-diffusion samplers of :mod:`nodes.sampling` (which assume an
SD-style eps model and a fixed noise schedule). The loop is k-diffusion-shaped all the same::

    x = noise * scheduler.init_noise_sigma
    for i, t in enumerate(scheduler.timesteps):
        x = scheduler.step(predict(x, t), t, x, generator=generator).prev_sample
        callback({"i": i, "total": steps, "x": x})

``predict(x, t)`` is the model with its guidance (:func:`guide`) already applied, built by the caller;
the loop never branches on the model. All randomness (the scheduler's per-step variance noise) comes
from the ``torch.Generator`` passed in, a CPU generator seeded from the node's seed, so the same seed
gives the same result on any device (diffusers draws CPU-generator noise on the CPU). Latents stay
float32 here; ``predict`` casts to the model's dtype and back.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch

#: ``predict(x, t) -> model output`` (guided), for the scheduler's ``step``.
Predict = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: Called after every step with ``{"i", "total", "x"}``.
Callback = Callable[[dict[str, Any]], None]


def fresh(scheduler: Any, steps: int) -> Any:
    """A copy of a loaded scheduler with ``steps`` inference timesteps set (schedulers carry run state).

    Raises:
        ValueError: ``steps < 1``.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    run = copy.deepcopy(scheduler)
    run.set_timesteps(steps, device="cpu")
    if hasattr(run, "set_begin_index"):
        run.set_begin_index(0)
    return run


def scheduler_sample(
    predict: Predict,
    noise: torch.Tensor,
    scheduler: Any,
    *,
    generator: torch.Generator,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Run ``scheduler`` (prepared by :func:`fresh`) from ``noise`` to a sample (the loop above).

    Args:
        predict: the guided model output for ``(x, t)``.
        noise: standard normal noise of the sample's shape, float32.
        scheduler: a diffusers scheduler with its timesteps set.
        generator: the source of the per-step noise.
        callback: progress, once per step.

    Returns:
        The sample, float32, on ``noise``'s device.
    """
    timesteps = scheduler.timesteps
    takes_prev = "prev_timestep" in _step_parameters(scheduler)
    x = noise.float() * scheduler.init_noise_sigma
    for i, t in enumerate(timesteps):
        output = predict(scheduler.scale_model_input(x, t), t).float()
        extra = {"prev_timestep": timesteps[i + 1] if i + 1 < len(timesteps) else None} if takes_prev else {}
        x = scheduler.step(output, t, x, generator=generator, **extra).prev_sample.float()
        if callback is not None:
            callback({"i": i, "total": len(timesteps), "x": x})
    return x


def _step_parameters(scheduler: Any) -> tuple[str, ...]:
    import inspect

    return tuple(inspect.signature(scheduler.step).parameters)


def guide(output: torch.Tensor, scale: float, channels: int, learned_variance: bool) -> torch.Tensor:
    """Classifier-free guidance (Ho & Salimans 2022) of a ``[uncond; cond]`` batch of model outputs.

    Args:
        output: the model's output for the batch ``cat([uncond, cond])``, or for ``cond`` alone when
            ``scale <= 1`` (no guidance).
        scale: the guidance scale.
        channels: the sample's channel count; models with learned variances (Nichol & Dhariwal 2021)
            output twice as many, eps first, variance second.
        learned_variance: the scheduler reads the variance channels; otherwise they are dropped.

    Returns:
        ``uncond + scale * (cond - uncond)`` on the eps channels, followed by the conditional variance
        channels when the scheduler uses them.
    """
    if scale > 1.0:
        uncond, cond = output.chunk(2)
        eps_u, eps_c = uncond[:, :channels], cond[:, :channels]
        eps = eps_u + scale * (eps_c - eps_u)
        output = torch.cat([eps, cond[:, channels:]], dim=1)
    if not learned_variance:
        output = output[:, :channels]
    return output


def learns_variance(scheduler: Any) -> bool:
    """True when the scheduler's step reads a predicted variance (``learned`` / ``learned_range``)."""
    return getattr(scheduler.config, "variance_type", None) in ("learned", "learned_range")


def cpu_generator(seed: int) -> torch.Generator:
    """The node's generator: CPU, seeded with ``seed`` (taken modulo 2**64)."""
    return torch.Generator("cpu").manual_seed(seed % 2**64)


def pair(cond: torch.Tensor, uncond: torch.Tensor, guided: bool) -> torch.Tensor:
    """``cat([uncond, cond])`` when guiding, else ``cond``."""
    return torch.cat([uncond, cond]) if guided else cond


def repeat_to(value: torch.Tensor, batch: int, what: str) -> torch.Tensor:
    """``value`` with batch ``batch``: a batch of 1 is repeated; any other size must already match.

    Raises:
        ValueError: the sizes cannot be matched (the message names ``what``).
    """
    if value.shape[0] == batch:
        return value
    if value.shape[0] == 1:
        return value.repeat(batch, *([1] * (value.ndim - 1)))
    raise ValueError(f"{what} has a batch of {value.shape[0]}, but {batch} are being sampled; use 1 or {batch}")
