"""Steppers that run diffusers' scheduler classes over *our* sigma schedule.

The step rules come from diffusers (a well-kept library: we do not rewrite them); what this module adds
is the plumbing that lets one of its scheduler objects walk an arbitrary decreasing list of sigmas
produced by :mod:`nodes.sampling.schedules`:

1. **Build** the class with its algorithm options (``algorithm_type``, ``solver_order``, ...) and a
   prediction type it can consume exactly: ``"epsilon"`` for the sigma-space classes (the eps we pass
   is ``(x - x0) / sigma`` at the sigma being evaluated; EulerAncestral and KDPM2 reject
   ``"sample"``) and ``"sample"`` (x0 itself) for the data-prediction multistep solvers.
2. **Install our schedule.** Where ``set_timesteps`` takes ``sigmas=`` (Euler) we pass it. Elsewhere
   we call ``set_timesteps(n)`` so that every piece of per-run state exists, then overwrite the
   arrays the class's ``step`` reads (``sigmas``, plus ``sigmas_interpol`` for KDPM2) in the layout
   its own ``set_timesteps`` would have produced, and pin ``set_begin_index(0)`` so no step is looked
   up by timestep. The UNet timestep never comes from the scheduler: the denoiser derives it from
   sigma, so ``timesteps`` only labels the calls.
3. **Translate spaces.** The DPM-Solver / UniPC / DEIS classes integrate the variance-preserving
   latent ``x * alpha`` with ``alpha = 1 / sqrt(1 + sigma^2)``; we scale in and out around ``step``.
4. **Finish at sigma 0 the k-diffusion way.** A step whose target sigma is 0 is first order. For the
   multistep solvers that step's exact value is the model's x0 prediction, and we return it directly:
   in floating point, DEIS and UniPC-bh1 evaluate it as ``0 * inf`` (NaN) with diffusers 0.42.

A class whose per-run state cannot be rebuilt from a sigma list this way, or that needs a package we
do not install, is not used; :mod:`nodes.sampling.own_samplers` has those algorithms instead.
Tests check every stepper against closed-form results on a toy denoiser, so a diffusers change to
the attributes used here shows up as a failing test, not as silently wrong images.
"""

from __future__ import annotations

import copy
import functools
import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from diffusers import (
    DEISMultistepScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    KDPM2DiscreteScheduler,
    UniPCMultistepScheduler,
)
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from nodes.sampling.denoiser import Denoise

#: One step: ``(denoise, x, i) -> (x at sigmas[i + 1], denoised at sigmas[i])``.
StepFn = Callable[[Denoise, torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]
#: Builds a fresh stepper for one run over ``sigmas`` with the run's generator.
MakeStepper = Callable[[torch.Tensor, torch.Generator | None], StepFn]


@contextmanager
def _quiet() -> Iterator[None]:
    """Hide the numpy-2 DeprecationWarnings diffusers 0.42 emits on every step (np.log on torch tensors)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


@functools.cache
def _prototype(cls: type[SchedulerMixin], options: tuple[tuple[str, Any], ...]) -> SchedulerMixin:
    with _quiet():
        return cls(**dict(options))


def _fresh(cls: type[SchedulerMixin], **config: Any) -> SchedulerMixin:
    """A new scheduler: a copy of a cached prototype (KDPM2's constructor alone takes half a second)."""
    return copy.deepcopy(_prototype(cls, tuple(sorted(config.items()))))


def _install(scheduler: SchedulerMixin, sigmas: torch.Tensor, calls: int) -> None:
    """Make ``sigmas`` (already in the class's layout) the schedule of a scheduler after ``set_timesteps``."""
    scheduler.sigmas = sigmas.float().cpu()
    scheduler.timesteps = sigmas[:calls].float().cpu()  # labels only: begin_index pins the step counter
    scheduler.set_begin_index(0)


def _eps(x: torch.Tensor, denoised: torch.Tensor, sigma: float) -> torch.Tensor:
    return (x - denoised) / sigma


# -- one evaluation per step, k-diffusion space ---------------------------------------------------


def single_evaluation(cls: type[SchedulerMixin], **config: Any) -> MakeStepper:
    """Euler-type classes: one model call per step, ``step`` reads ``sigmas[i]`` and ``sigmas[i + 1]``."""

    def make(sigmas: torch.Tensor, generator: torch.Generator | None) -> StepFn:
        scheduler = _fresh(cls, prediction_type="epsilon", **config)
        with _quiet():
            if cls is EulerDiscreteScheduler:
                scheduler.set_timesteps(sigmas=sigmas.tolist())
                scheduler.set_begin_index(0)
            else:
                scheduler.set_timesteps(len(sigmas) - 1)
                _install(scheduler, sigmas, len(sigmas) - 1)
        scheduler.is_scale_input_called = True  # the denoiser applies c_in itself

        def step(denoise: Denoise, x: torch.Tensor, i: int) -> tuple[torch.Tensor, torch.Tensor]:
            sigma = float(sigmas[i])
            denoised = denoise(x, sigma)
            with _quiet():
                out = scheduler.step(_eps(x, denoised, sigma), scheduler.timesteps[i], x, generator=generator)
            return out.prev_sample, denoised

        return step

    return make


# -- two evaluations per step (Heun, DPM-Solver-2), k-diffusion space -------------------------------


def _heun_layout(sigmas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Heun's interleaved sigmas ``s0, s1, s1, s2, s2, ..., sN`` and the second evaluation's sigmas."""
    layout = torch.cat([sigmas[:1], sigmas[1:-1].repeat_interleave(2), sigmas[-1:]])
    return layout, sigmas[1:]


def _kdpm2_layout(sigmas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """KDPM2's interleaved sigmas ``s0, s1, s1, ..., sN, sN, sN`` and the log-midpoints between steps."""
    midpoints = (sigmas[:-1] * sigmas[1:]).sqrt()
    return torch.cat([sigmas[:1], sigmas[1:].repeat_interleave(2), sigmas[-1:]]), midpoints


def two_evaluations(cls: type[SchedulerMixin], **config: Any) -> MakeStepper:
    """Heun / KDPM2: a first-order call at ``sigmas[i]``, then a correcting call at a second sigma.

    As in k-diffusion, a step to sigma 0 stops after the first (Euler) call.
    """
    layout_fn = _kdpm2_layout if cls is KDPM2DiscreteScheduler else _heun_layout

    def make(sigmas: torch.Tensor, generator: torch.Generator | None) -> StepFn:
        scheduler = _fresh(cls, prediction_type="epsilon", **config)
        with _quiet():
            scheduler.set_timesteps(len(sigmas) - 1)
        layout, second = layout_fn(sigmas)
        _install(scheduler, layout, 2 * (len(sigmas) - 1))
        if cls is KDPM2DiscreteScheduler:
            # entry 2i+1 (read by both calls of step i) is the midpoint between sigmas[i] and sigmas[i+1]
            interpol = torch.cat([second.new_zeros(1), second.repeat_interleave(2), second[-1:]])
            scheduler.sigmas_interpol = interpol.float().cpu()

        def step(denoise: Denoise, x: torch.Tensor, i: int) -> tuple[torch.Tensor, torch.Tensor]:
            sigma = float(sigmas[i])
            denoised = denoise(x, sigma)
            with _quiet():
                x_first = scheduler.step(_eps(x, denoised, sigma), scheduler.timesteps[2 * i], x).prev_sample
            if float(sigmas[i + 1]) == 0.0:
                return x_first, denoised
            sigma_2 = float(second[i])
            denoised_2 = denoise(x_first, sigma_2)
            with _quiet():
                out = scheduler.step(_eps(x_first, denoised_2, sigma_2), scheduler.timesteps[2 * i + 1], x_first)
            return out.prev_sample, denoised

        return step

    return make


# -- multistep data-prediction solvers, variance-preserving space --------------------------------


def multistep(cls: type[SchedulerMixin], *, takes_generator: bool = False, **config: Any) -> MakeStepper:
    """DPM-Solver++ / UniPC / DEIS: one call per step, history kept by the scheduler, VP latents."""

    def make(sigmas: torch.Tensor, generator: torch.Generator | None) -> StepFn:
        scheduler = _fresh(cls, prediction_type="sample", **config)
        with _quiet():
            scheduler.set_timesteps(len(sigmas) - 1)
        _install(scheduler, sigmas, len(sigmas) - 1)
        extra = {"generator": generator} if takes_generator else {}

        def step(denoise: Denoise, x: torch.Tensor, i: int) -> tuple[torch.Tensor, torch.Tensor]:
            sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
            denoised = denoise(x, sigma)
            if sigma_next == 0.0:  # 4. the limit of every first-order update here
                return denoised, denoised
            x_vp = x / math.sqrt(1.0 + sigma**2)
            with _quiet():
                out = scheduler.step(denoised, scheduler.timesteps[i], x_vp, **extra)
            return out.prev_sample * math.sqrt(1.0 + sigma_next**2), denoised

        return step

    return make


euler = single_evaluation(EulerDiscreteScheduler)
euler_ancestral = single_evaluation(EulerAncestralDiscreteScheduler)
heun = two_evaluations(HeunDiscreteScheduler)
dpm_2 = two_evaluations(KDPM2DiscreteScheduler)
# k-diffusion's order rule: first order only for the first step and the step to sigma 0 (handled above)
_DPMPP_ORDER = {"solver_order": 2, "lower_order_final": False, "euler_at_final": False, "final_sigmas_type": "sigma_min"}
dpmpp_2m = multistep(DPMSolverMultistepScheduler, algorithm_type="dpmsolver++", **_DPMPP_ORDER)
dpmpp_2m_sde = multistep(DPMSolverMultistepScheduler, takes_generator=True, algorithm_type="sde-dpmsolver++",
                         **_DPMPP_ORDER)
uni_pc = multistep(UniPCMultistepScheduler, solver_type="bh1", solver_order=3, lower_order_final=True)
uni_pc_bh2 = multistep(UniPCMultistepScheduler, solver_type="bh2", solver_order=3, lower_order_final=True)
deis = multistep(DEISMultistepScheduler, solver_order=3, lower_order_final=False)
