"""What the KSampler and KSamplerAdvanced nodes call: ComfyUI's ``common_ksampler`` semantics.

A job runs in five steps:

1. **Sigmas.** The scheduler gives ``steps + 1`` sigmas (samplers that drop the penultimate sigma ask
   for one more step first). With ``denoise < 1`` the schedule is computed for ``int(steps / denoise)``
   steps and only its last ``steps + 1`` sigmas are kept, so the run starts part-way down and
   changes the input latent less; ``denoise <= 0`` runs nothing. KSamplerAdvanced then cuts the
   schedule: ``end_at_step`` keeps ``sigmas[:end + 1]`` (whose last sigma becomes 0 unless leftover
   noise is wanted) and ``start_at_step`` drops the first steps; starting at or after the end returns
   the input unchanged.
2. **Noise.** :func:`~nodes.sampling.noise.prepare_noise` draws the initial noise on the CPU from the
   seed (zeros when KSamplerAdvanced's ``add_noise`` is off). The latent to sample is
   ``latent + noise * sigma0``, or ``noise * sqrt(1 + sigma0^2)`` when ``sigma0`` is the model's
   largest sigma (a full denoise), as ComfyUI scales it.
3. **Inpainting.** A ``noise_mask`` in the latent dict limits changes to the masked area (see
   :mod:`nodes.sampling.denoiser`); ``ddim`` re-noises the kept area with fresh noise from
   ``seed + 1`` instead of the initial noise.
4. **Sampling** with a :class:`~nodes.sampling.denoiser.Denoiser` and the named sampler. Ancestral and
   SDE samplers draw per-step noise from a CPU ``torch.Generator`` seeded with ``seed + 1`` (so the
   first step's noise is not the initial noise again); never from the global RNG.
5. **Result.** A copy of the input latent dict with ``samples`` replaced, on the input's device.

LATENT values hold the VAE's own latents, as in ComfyUI; :meth:`DiffusionModel.latent_in` scales them into
the UNet's space on the way in and :meth:`DiffusionModel.latent_out` back on the way out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch

from nodes.sampling.conditioning import Conditioning
from nodes.sampling.denoiser import Denoiser, Inpaint
from nodes.sampling.model import DiffusionModel
from nodes.sampling.noise import prepare_noise, prepare_noise_mask
from nodes.sampling.samplers import Callback, Sampler, get_sampler
from nodes.sampling.schedules import get_scheduler

Toggle = bool | Literal["enable", "disable"]


@dataclass(frozen=True)
class SamplingJob:
    """Every knob of one sampling run (KSampler and KSamplerAdvanced both reduce to this).

    Attributes:
        seed: seed of the initial noise and of the sampler's own noise.
        steps: number of steps (before ``start_step`` / ``last_step`` cut the schedule).
        cfg: classifier-free guidance scale.
        sampler_name: a key of :data:`nodes.sampling.samplers.SAMPLERS`.
        scheduler: a key of :data:`nodes.sampling.schedules.SCHEDULERS`.
        denoise: fraction of the schedule to run (KSampler); 1.0 runs it all.
        add_noise: add the seeded initial noise (False: the latent already carries its noise).
        start_step: first step to run, or None.
        last_step: step to stop at, or None.
        force_full_denoise: with ``last_step``, end at sigma 0 instead of leaving noise.
    """

    seed: int
    steps: int
    cfg: float
    sampler_name: str
    scheduler: str
    denoise: float = 1.0
    add_noise: bool = True
    start_step: int | None = None
    last_step: int | None = None
    force_full_denoise: bool = False


def ksampler(
    model: DiffusionModel,
    seed: int,
    steps: int,
    cfg: float,
    sampler_name: str,
    scheduler: str,
    positive: Conditioning,
    negative: Conditioning,
    latent: Mapping[str, Any],
    denoise: float = 1.0,
    *,
    callback: Callback | None = None,
) -> dict[str, Any]:
    """ComfyUI's KSampler.

    Args:
        model: the model handle.
        seed: job seed, ``0 <= seed < 2**64``.
        steps: number of steps, at least 1.
        cfg: classifier-free guidance scale (1.0 skips the negative prompt).
        sampler_name: a ComfyUI sampler name (see :data:`nodes.sampling.names.SAMPLER_NAMES`).
        scheduler: a ComfyUI scheduler name (see :data:`nodes.sampling.names.SCHEDULER_NAMES`).
        positive: ComfyUI conditioning list of the prompt.
        negative: ComfyUI conditioning list of the negative prompt.
        latent: ``{"samples": [B, C, H, W], "noise_mask"?: mask, "batch_index"?: [int, ...]}``.
        denoise: fraction of the schedule to run, in ``[0, 1]``.
        callback: called once per step with ``{"i", "total", "x", "denoised", "sigma"}``.

    Returns:
        A copy of ``latent`` with ``samples`` replaced by the result.

    Raises:
        ValueError: an unknown sampler or scheduler name (the message lists the choices), ``steps < 1``,
            a seed out of range, or malformed conditioning.
    """
    job = SamplingJob(seed, steps, cfg, sampler_name, scheduler, denoise=denoise)
    return run_job(job, model, positive, negative, latent, callback=callback)


def ksampler_advanced(
    model: DiffusionModel,
    add_noise: Toggle,
    noise_seed: int,
    steps: int,
    cfg: float,
    sampler_name: str,
    scheduler: str,
    positive: Conditioning,
    negative: Conditioning,
    latent: Mapping[str, Any],
    start_at_step: int,
    end_at_step: int,
    return_with_leftover_noise: Toggle,
    *,
    callback: Callback | None = None,
) -> dict[str, Any]:
    """ComfyUI's KSamplerAdvanced: run steps ``start_at_step .. end_at_step`` of a ``steps``-step schedule.

    Args:
        add_noise: add the seeded initial noise (``True`` / ``"enable"``) or not.
        noise_seed: job seed.
        start_at_step: first step to run; at or after the schedule's end the input comes back unchanged.
        end_at_step: step to stop at (values past the end run to the end).
        return_with_leftover_noise: stop at the noise level of ``end_at_step`` (``True`` / ``"enable"``)
            instead of denoising fully, so another sampler can continue from there with
            ``add_noise`` off.
        The other arguments are as for :func:`ksampler`.

    Returns:
        A copy of ``latent`` with ``samples`` replaced by the result.

    Raises:
        ValueError: as :func:`ksampler`, or a toggle that is neither a bool nor ``"enable"``/``"disable"``.
    """
    job = SamplingJob(
        noise_seed,
        steps,
        cfg,
        sampler_name,
        scheduler,
        add_noise=_toggle(add_noise, "add_noise"),
        start_step=start_at_step,
        last_step=end_at_step,
        force_full_denoise=not _toggle(return_with_leftover_noise, "return_with_leftover_noise"),
    )
    return run_job(job, model, positive, negative, latent, callback=callback)


def run_job(
    job: SamplingJob,
    model: DiffusionModel,
    positive: Conditioning,
    negative: Conditioning,
    latent: Mapping[str, Any],
    *,
    callback: Callback | None = None,
) -> dict[str, Any]:
    """Run one :class:`SamplingJob` (the five steps in the module docstring)."""
    sampler = get_sampler(job.sampler_name)
    original = _fix_empty_channels(latent["samples"], model)
    samples = model.latent_in(original.float())
    sigmas = job_sigmas(job, model, sampler)
    result = dict(latent)
    if len(sigmas) < 2:  # nothing to run
        result["samples"] = original
        return result
    # 2. noise
    noise = prepare_noise(samples, job.seed, latent.get("batch_index")) if job.add_noise else torch.zeros(
        samples.shape, dtype=torch.float32
    )
    device = model.device
    clean = samples.to(device, torch.float32)
    sigma0 = float(sigmas[0])
    full = math.isclose(sigma0, model.sigma_max, rel_tol=1e-5) or sigma0 > model.sigma_max
    x = clean + noise.to(device) * (math.sqrt(1.0 + sigma0**2) if full else sigma0)
    # 3. inpainting
    inpaint = None
    if latent.get("noise_mask") is not None:
        kept_noise = noise
        if sampler.random_inpaint_noise:
            kept_noise = torch.randn(samples.shape, generator=_generator(job.seed + 1), dtype=torch.float32)
        mask = prepare_noise_mask(latent["noise_mask"], samples.shape).to(device)
        inpaint = Inpaint(latent=clean, noise=kept_noise.to(device), mask=mask)
    # 4. sampling
    denoiser = Denoiser(model, positive, negative, job.cfg, latent_shape=x.shape, inpaint=inpaint)
    with torch.no_grad():
        out = sampler(denoiser, x, sigmas, callback=callback, generator=_generator(job.seed + 1))
    result["samples"] = model.latent_out(out).to(original.device)
    return result


def job_sigmas(job: SamplingJob, model: DiffusionModel, sampler: Sampler) -> torch.Tensor:
    """The sigmas a job runs through: :func:`ksampler_sigmas`, then the start/last-step cuts."""
    sigmas = ksampler_sigmas(model.sigmas, job.scheduler, sampler, job.steps, job.denoise)
    if job.last_step is not None and job.last_step < len(sigmas) - 1:
        sigmas = sigmas[: job.last_step + 1].clone()
        if job.force_full_denoise:
            sigmas[-1] = 0.0
    if job.start_step is not None:
        sigmas = sigmas[job.start_step:] if job.start_step < len(sigmas) - 1 else sigmas[:0]
    return sigmas


def ksampler_sigmas(
    model_sigmas: torch.Tensor, scheduler: str, sampler: Sampler, steps: int, denoise: float = 1.0
) -> torch.Tensor:
    """The schedule of a KSampler run (ComfyUI ``KSampler.set_steps``).

    Args:
        model_sigmas: the model's training sigmas.
        scheduler: a scheduler name.
        sampler: the sampler (some drop the penultimate sigma).
        steps: steps to run.
        denoise: fraction of a longer schedule to run; see the module docstring.

    Returns:
        ``steps + 1`` decreasing sigmas (fewer for the schedules that can collapse points; none
        for ``denoise <= 0``).

    Raises:
        ValueError: an unknown scheduler name or ``steps < 1``.
    """
    schedule = get_scheduler(scheduler)
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")

    def compute(count: int) -> torch.Tensor:
        if not sampler.discard_penultimate_sigma:
            return schedule(model_sigmas, count)
        sigmas = schedule(model_sigmas, count + 1)
        return torch.cat([sigmas[:-2], sigmas[-1:]])

    if denoise > 0.9999:
        return compute(steps)
    if denoise <= 0.0:
        return torch.zeros(0)
    return compute(int(steps / denoise))[-(steps + 1):]


def _generator(seed: int) -> torch.Generator:
    return torch.Generator("cpu").manual_seed(seed % 2**64)


def _toggle(value: Toggle, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("enable", "disable"):
        return value == "enable"
    raise ValueError(f"{name} must be a bool, 'enable' or 'disable', got {value!r}")


def _fix_empty_channels(samples: torch.Tensor, model: DiffusionModel) -> torch.Tensor:
    """An all-zero latent with the wrong channel count becomes zeros with the model's (ComfyUI does this)."""
    if samples.shape[1] != model.latent_channels and not samples.any():
        return samples.new_zeros(samples.shape[0], model.latent_channels, *samples.shape[2:])
    return samples
