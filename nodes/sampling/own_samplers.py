"""Samplers written here, one small paper-cited step per algorithm, where diffusers cannot serve.

Each is a :data:`~nodes.sampling.diffusers_steppers.MakeStepper` like the diffusers-backed ones, so
the one loop in :mod:`nodes.sampling.samplers` runs them the same way. Why each one is ours:

- ``dpm_2_ancestral``: ``KDPM2AncestralDiscreteScheduler`` derives four interleaved arrays (up,
  down and midpoint sigmas) inside ``set_timesteps`` from its own schedule only; rebuilding them
  for our schedule would rewrite the algorithm anyway.
- ``lms``: ``LMSDiscreteScheduler`` integrates its coefficients with scipy, which is not installed;
  the Lagrange basis polynomials are integrated exactly here instead.
- ``dpmpp_sde``: ``DPMSolverSDEScheduler`` needs torchsde (not installed) for its Brownian tree;
  ours draws the same Gaussian increments from the job's generator.
- ``dpmpp_2s_ancestral``: diffusers has no ancestral single-step DPM-Solver++.
- ``ddpm``, ``lcm``: ``DDPMScheduler`` and ``LCMScheduler`` index ``alphas_cumprod`` by integer
  training timestep, so they cannot follow a continuous sigma schedule (and LCMScheduler adds
  boundary-condition scalings that ComfyUI's ``lcm`` sampler does not). A test checks ``ddpm``
  against ``DDPMScheduler`` on a schedule of integer timesteps, where both apply.

All of them work in k-diffusion variables (``x = x0 + sigma * eps``). Stochastic ones draw their
noise from the run's ``torch.Generator`` (on the generator's device, float32) and never from the
global RNG; they refuse to run without one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from nodes.sampling.denoiser import Denoise
from nodes.sampling.diffusers_steppers import MakeStepper, StepFn


#: ``(denoise, x, sigma, sigma_next, generator) -> (x at sigma_next, denoised at sigma)``.
StepRule = Callable[[Denoise, torch.Tensor, float, float, torch.Generator | None], tuple[torch.Tensor, torch.Tensor]]


def _noise_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    if generator is None:
        raise ValueError("this sampler is stochastic: pass a torch.Generator seeded from the job seed")
    noise = torch.randn(x.shape, generator=generator, device=generator.device, dtype=torch.float32)
    return noise.to(x.device, x.dtype)


def ancestral_split(sigma_from: float, sigma_to: float, eta: float = 1.0) -> tuple[float, float]:
    """Split a step into a move to ``sigma_down`` plus fresh noise ``sigma_up`` (Song et al. 2021, eq. 16)."""
    if sigma_to == 0.0 or eta == 0.0:
        return sigma_to, 0.0
    sigma_up = min(sigma_to, eta * math.sqrt(sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2))
    return math.sqrt(sigma_to**2 - sigma_up**2), sigma_up


def _per_step(rule: StepRule) -> MakeStepper:
    """A stepper for a rule that needs only ``(sigmas[i], sigmas[i + 1])`` and the generator."""

    def make(sigmas: torch.Tensor, generator: torch.Generator | None) -> StepFn:
        levels = [float(s) for s in sigmas]

        def step(denoise: Denoise, x: torch.Tensor, i: int) -> tuple[torch.Tensor, torch.Tensor]:
            return rule(denoise, x, levels[i], levels[i + 1], generator)

        return step

    return make


def dpm_2_ancestral_step(
    denoise: Denoise, x: torch.Tensor, sigma: float, sigma_next: float, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """DPM-Solver-2 (Lu et al. 2022, alg. 1; Karras et al. 2022 sec. 3) to ``sigma_down``, then ancestral noise."""
    denoised = denoise(x, sigma)
    sigma_down, sigma_up = ancestral_split(sigma, sigma_next)
    slope = (x - denoised) / sigma
    if sigma_down == 0.0:  # Euler to the end
        x = denoised
    else:  # evaluate the slope at the log-midpoint, take the whole step with it
        sigma_mid = math.sqrt(sigma * sigma_down)
        x_mid = x + slope * (sigma_mid - sigma)
        slope_mid = (x_mid - denoise(x_mid, sigma_mid)) / sigma_mid
        x = x + slope_mid * (sigma_down - sigma)
    if sigma_up > 0.0:
        x = x + _noise_like(x, generator) * sigma_up
    return x, denoised


def dpmpp_2s_ancestral_step(
    denoise: Denoise, x: torch.Tensor, sigma: float, sigma_next: float, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """DPM-Solver++(2S) (Lu et al. 2022b, "DPM-Solver++", alg. 1, r = 1/2) to ``sigma_down``, then ancestral noise.

    In k-diffusion variables the first-order DPM-Solver++ update from ``s`` to ``t`` is
    ``x_t = (sigma_t / sigma_s) * x_s + (1 - sigma_t / sigma_s) * x0``.
    """
    denoised = denoise(x, sigma)
    sigma_down, sigma_up = ancestral_split(sigma, sigma_next)
    if sigma_down == 0.0:
        x = denoised
    else:
        sigma_mid = math.sqrt(sigma * sigma_down)  # half-way in log-SNR time
        x_mid = (sigma_mid / sigma) * x + (1.0 - sigma_mid / sigma) * denoised
        denoised_mid = denoise(x_mid, sigma_mid)
        x = (sigma_down / sigma) * x + (1.0 - sigma_down / sigma) * denoised_mid
    if sigma_up > 0.0:
        x = x + _noise_like(x, generator) * sigma_up
    return x, denoised


def dpmpp_sde_step(
    denoise: Denoise, x: torch.Tensor, sigma: float, sigma_next: float, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """DPM-Solver++(2S) as an SDE solver (Lu et al. 2022b, with k-diffusion's eta = 1, r = 1/2).

    Both substeps are ancestral: a first-order step to the log-midpoint with fresh noise, a model
    call there, then the full step with the midpoint prediction and fresh noise again.
    """
    denoised = denoise(x, sigma)
    if sigma_next == 0.0:
        return denoised, denoised
    sigma_mid = math.sqrt(sigma * sigma_next)
    down, up = ancestral_split(sigma, sigma_mid)
    x_mid = (down / sigma) * x + (1.0 - down / sigma) * denoised + _noise_like(x, generator) * up
    denoised_mid = denoise(x_mid, sigma_mid)
    down, up = ancestral_split(sigma, sigma_next)
    x = (down / sigma) * x + (1.0 - down / sigma) * denoised_mid + _noise_like(x, generator) * up
    return x, denoised


def ddpm_step(
    denoise: Denoise, x: torch.Tensor, sigma: float, sigma_next: float, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Ancestral DDPM: sample the posterior q(x_s | x_t, x0) (Ho et al. 2020, eqs. 6-7), in VP variables."""
    denoised = denoise(x, sigma)
    abar_t, abar_s = 1.0 / (1.0 + sigma**2), 1.0 / (1.0 + sigma_next**2)
    alpha = abar_t / abar_s
    beta = 1.0 - alpha
    x_vp = x * math.sqrt(abar_t)
    mean = (math.sqrt(abar_s) * beta / (1.0 - abar_t)) * denoised + (
        math.sqrt(alpha) * (1.0 - abar_s) / (1.0 - abar_t)
    ) * x_vp
    if sigma_next > 0.0:
        mean = mean + math.sqrt(beta * (1.0 - abar_s) / (1.0 - abar_t)) * _noise_like(x, generator)
    return mean / math.sqrt(abar_s), denoised


def lcm_step(
    denoise: Denoise, x: torch.Tensor, sigma: float, sigma_next: float, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multistep consistency sampling (Luo et al. 2023, "Latent Consistency Models", alg. 1): jump to x0, re-noise."""
    denoised = denoise(x, sigma)
    if sigma_next == 0.0:
        return denoised, denoised
    return denoised + _noise_like(x, generator) * sigma_next, denoised


def lms_coefficient(sigmas: list[float], i: int, j: int, order: int) -> float:
    """∫ over [sigmas[i], sigmas[i+1]] of the Lagrange basis polynomial for node ``sigmas[i - j]``."""
    node = sigmas[i - j]
    roots = [sigmas[i - k] for k in range(order) if k != j]
    scale = float(np.prod([node - r for r in roots])) if roots else 1.0
    antiderivative = np.polynomial.polynomial.polyint(np.polynomial.polynomial.polyfromroots(roots) / scale)
    poly = np.polynomial.polynomial.polyval
    return float(poly(sigmas[i + 1], antiderivative) - poly(sigmas[i], antiderivative))


def lms(order: int = 4) -> MakeStepper:
    """Linear multistep (Adams-Bashforth in sigma) over the last ``order`` slopes (k-diffusion ``sample_lms``)."""

    def make(sigmas: torch.Tensor, generator: torch.Generator | None) -> StepFn:
        levels = [float(s) for s in sigmas]
        slopes: list[torch.Tensor] = []  # newest first

        def step(denoise: Denoise, x: torch.Tensor, i: int) -> tuple[torch.Tensor, torch.Tensor]:
            denoised = denoise(x, levels[i])
            slopes.insert(0, (x - denoised) / levels[i])
            del slopes[order:]
            for j, slope in enumerate(slopes):
                x = x + lms_coefficient(levels, i, j, len(slopes)) * slope
            return x, denoised

        return step

    return make


dpm_2_ancestral = _per_step(dpm_2_ancestral_step)
dpmpp_2s_ancestral = _per_step(dpmpp_2s_ancestral_step)
dpmpp_sde = _per_step(dpmpp_sde_step)
ddpm = _per_step(ddpm_step)
lcm = _per_step(lcm_step)
