"""The sampling loop and the sampler registry.

Every sampler is called the same way, like k-diffusion's ``sample_euler``:
``sampler(denoise, latents, sigmas, *, callback, generator) -> latents``, and every one runs the same
loop, :func:`sample_loop`. The algorithms plug into it as *steppers*: a stepper is built once per run
from the sigma schedule and the run's generator, and each call ``step(denoise, x, i)`` moves ``x``
from ``sigmas[i]`` to ``sigmas[i + 1]`` and also returns the clean-latent prediction it made at
``sigmas[i]``. After every step the loop reports ``{"i", "total", "x", "denoised", "sigma"}`` to the
callback (``x`` is the latent after the step), which is what progress bars and live previews use.

Sampler names map through the explicit :data:`SAMPLERS` dict, never through attribute lookup, and an
unknown name is an error that lists the choices. Which algorithm comes from where:

==========================  =================================================================
diffusers scheduler class   euler, ddim (``EulerDiscreteScheduler``), euler_ancestral, heun,
                            dpm_2 (``KDPM2DiscreteScheduler``), dpmpp_2m, dpmpp_2m_sde
                            (``DPMSolverMultistepScheduler``), uni_pc, uni_pc_bh2
                            (``UniPCMultistepScheduler``), deis
own function                dpm_2_ancestral, lms, dpmpp_2s_ancestral, dpmpp_sde, ddpm, lcm
                            (reasons in :mod:`nodes.sampling.own_samplers`)
==========================  =================================================================

``ddim`` is ComfyUI's: the Euler step (DDIM with eta = 0 *is* Euler's method in sigma, Karras et al.
2022 sec. 3) plus fresh random noise for inpainting; ``DDIMScheduler`` itself looks up
``alphas_cumprod`` by integer timestep and cannot follow our schedules. A test checks that our
``ddim`` with the ``ddim_uniform`` schedule equals ``DDIMScheduler``.

All randomness comes from the ``torch.Generator`` passed in; samplers never touch the global RNG.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from nodes.sampling import diffusers_steppers as hf
from nodes.sampling import own_samplers as own
from nodes.sampling.denoiser import Denoise
from nodes.sampling.diffusers_steppers import MakeStepper, StepFn
from nodes.sampling.names import SAMPLER_NAMES

#: The progress callback: called once per step with ``{"i", "total", "x", "denoised", "sigma"}``.
Callback = Callable[[dict[str, Any]], None]


def sample_loop(
    step: StepFn,
    denoise: Denoise,
    latents: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Run a stepper over every step of ``sigmas``; ``latents`` must already carry noise at ``sigmas[0]``."""
    x = latents
    total = len(sigmas) - 1
    for i in range(total):
        x, denoised = step(denoise, x, i)
        if callback is not None:
            callback({"i": i, "total": total, "x": x, "denoised": denoised, "sigma": sigmas[i]})
    return x


@dataclass(frozen=True)
class Sampler:
    """One named sampling algorithm.

    Attributes:
        name: the ComfyUI sampler name.
        make_stepper: builds a fresh stepper for one run from ``(sigmas, generator)``.
        source: where the step rule comes from (a diffusers class or one of our functions).
        stochastic: it adds fresh noise while sampling (ancestral / SDE), so it needs a generator.
        discard_penultimate_sigma: ComfyUI computes ``steps + 1`` sigmas and drops the one before
            the final 0 (dpm_2, dpm_2_ancestral, uni_pc, uni_pc_bh2).
        random_inpaint_noise: inpainting re-noises the kept area with fresh noise, not the job's
            initial noise (ComfyUI's ``ddim``).
    """

    name: str
    make_stepper: MakeStepper
    source: str
    stochastic: bool = False
    discard_penultimate_sigma: bool = False
    random_inpaint_noise: bool = False

    def __call__(
        self,
        denoise: Denoise,
        latents: torch.Tensor,
        sigmas: torch.Tensor,
        *,
        callback: Callback | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Sample from ``latents`` (noisy at ``sigmas[0]``) down to ``sigmas[-1]``.

        Args:
            denoise: ``denoise(x, sigma) -> x0``, usually a :class:`~nodes.sampling.denoiser.Denoiser`.
            latents: ``[B, C, H, W]`` float32 latents at noise level ``sigmas[0]``.
            sigmas: decreasing noise levels, one more than the number of steps.
            callback: called once per step, see :data:`Callback`.
            generator: the source of all noise an ancestral / SDE sampler adds.

        Returns:
            The latents at noise level ``sigmas[-1]``.

        Raises:
            ValueError: a stochastic sampler was given no generator.
        """
        if self.stochastic and generator is None:
            raise ValueError(f"{self.name} is stochastic: pass a torch.Generator seeded from the job seed")
        if len(sigmas) < 2:
            return latents
        step = self.make_stepper(sigmas.detach().float().cpu(), generator)
        return sample_loop(step, denoise, latents.float(), sigmas, callback=callback)


def _diffusers(name: str, make: MakeStepper, cls: str, **flags: bool) -> Sampler:
    return Sampler(name, make, f"diffusers.{cls}", **flags)


def _own(name: str, make: MakeStepper, function: str, **flags: bool) -> Sampler:
    return Sampler(name, make, f"nodes.sampling.own_samplers.{function}", **flags)


#: ComfyUI sampler name -> :class:`Sampler`.
SAMPLERS: dict[str, Sampler] = {
    "euler": _diffusers("euler", hf.euler, "EulerDiscreteScheduler"),
    "euler_ancestral": _diffusers(
        "euler_ancestral", hf.euler_ancestral, "EulerAncestralDiscreteScheduler", stochastic=True
    ),
    "heun": _diffusers("heun", hf.heun, "HeunDiscreteScheduler"),
    "dpm_2": _diffusers("dpm_2", hf.dpm_2, "KDPM2DiscreteScheduler", discard_penultimate_sigma=True),
    "dpm_2_ancestral": _own(
        "dpm_2_ancestral", own.dpm_2_ancestral, "dpm_2_ancestral_step", stochastic=True,
        discard_penultimate_sigma=True,
    ),
    "lms": _own("lms", own.lms(), "lms"),
    "dpmpp_2s_ancestral": _own(
        "dpmpp_2s_ancestral", own.dpmpp_2s_ancestral, "dpmpp_2s_ancestral_step", stochastic=True
    ),
    "dpmpp_sde": _own("dpmpp_sde", own.dpmpp_sde, "dpmpp_sde_step", stochastic=True),
    "dpmpp_2m": _diffusers("dpmpp_2m", hf.dpmpp_2m, "DPMSolverMultistepScheduler"),
    "dpmpp_2m_sde": _diffusers("dpmpp_2m_sde", hf.dpmpp_2m_sde, "DPMSolverMultistepScheduler", stochastic=True),
    "ddpm": _own("ddpm", own.ddpm, "ddpm_step", stochastic=True),
    "lcm": _own("lcm", own.lcm, "lcm_step", stochastic=True),
    "deis": _diffusers("deis", hf.deis, "DEISMultistepScheduler"),
    "ddim": _diffusers("ddim", hf.euler, "EulerDiscreteScheduler", random_inpaint_noise=True),
    "uni_pc": _diffusers("uni_pc", hf.uni_pc, "UniPCMultistepScheduler", discard_penultimate_sigma=True),
    "uni_pc_bh2": _diffusers("uni_pc_bh2", hf.uni_pc_bh2, "UniPCMultistepScheduler", discard_penultimate_sigma=True),
}
assert tuple(SAMPLERS) == SAMPLER_NAMES, "keep nodes/sampling/names.py in step with SAMPLERS"


def get_sampler(name: str) -> Sampler:
    """The sampler for a ComfyUI sampler name.

    Raises:
        ValueError: ``name`` is not a key of :data:`SAMPLERS`; the message lists the valid names.
    """
    try:
        return SAMPLERS[name]
    except KeyError:
        raise ValueError(f"unknown sampler {name!r}; choose one of: {', '.join(SAMPLERS)}") from None
