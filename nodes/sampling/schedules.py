"""Sigma schedules: which noise levels a sampler visits, one pure function per ComfyUI scheduler name.

Every entry of :data:`SCHEDULERS` has the signature ``(model_sigmas, steps) -> sigmas``:
``model_sigmas`` is the model's noise level per training timestep (increasing, see
:func:`nodes.sampling.model.training_sigmas`) and the result is a float32 CPU tensor of decreasing
sigmas that ends with 0, normally ``steps + 1`` long. The formula-based schedules (karras,
exponential) are also exposed over ``(sigma_min, sigma_max, steps)``.

Two schedules can return fewer than ``steps + 1`` sigmas, never more:

- ``beta`` rounds its points to training timesteps and drops repeats (as ComfyUI does), so large step
  counts can collapse neighbouring points;
- ``ddim_uniform`` takes ``steps`` timesteps ``1, 1 + k, 1 + 2k, ...`` with ``k = T // steps`` (diffusers'
  DDIM "leading" spacing with ``steps_offset=1``). ComfyUI keeps *every* such timestep below ``T``,
  which gives one extra step whenever ``k * steps < T - 1`` (for example 31 steps for 30); we keep
  the step count the user asked for.

Names map through the explicit :data:`SCHEDULERS` dict; an unknown name is an error naming the
choices (:func:`get_scheduler`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from nodes.sampling.model import timestep_to_sigma
from nodes.sampling.names import SCHEDULER_NAMES

Schedule = Callable[[torch.Tensor, int], torch.Tensor]


def _check_steps(steps: int) -> None:
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")


def _append_zero(sigmas: torch.Tensor) -> torch.Tensor:
    return torch.cat([sigmas.float(), sigmas.new_zeros(1, dtype=torch.float32)])


def karras_sigmas(sigma_min: float, sigma_max: float, steps: int, rho: float = 7.0) -> torch.Tensor:
    """Karras et al. 2022, eq. 5: evenly spaced in ``sigma ** (1 / rho)``."""
    _check_steps(steps)
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _append_zero((hi + ramp * (lo - hi)) ** rho)


def exponential_sigmas(sigma_min: float, sigma_max: float, steps: int) -> torch.Tensor:
    """Evenly spaced in log-sigma (k-diffusion ``get_sigmas_exponential``)."""
    _check_steps(steps)
    return _append_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), steps, dtype=torch.float64).exp())


def karras(model_sigmas: torch.Tensor, steps: int) -> torch.Tensor:
    """:func:`karras_sigmas` between the model's smallest and largest sigma."""
    return karras_sigmas(float(model_sigmas[0]), float(model_sigmas[-1]), steps)


def exponential(model_sigmas: torch.Tensor, steps: int) -> torch.Tensor:
    """:func:`exponential_sigmas` between the model's smallest and largest sigma."""
    return exponential_sigmas(float(model_sigmas[0]), float(model_sigmas[-1]), steps)


def normal(model_sigmas: torch.Tensor, steps: int) -> torch.Tensor:
    """Timesteps evenly spaced from the last to the first training timestep, both included."""
    _check_steps(steps)
    timesteps = torch.linspace(len(model_sigmas) - 1, 0, steps, dtype=torch.float64)
    return _append_zero(timestep_to_sigma(model_sigmas, timesteps))


def sgm_uniform(model_sigmas: torch.Tensor, steps: int) -> torch.Tensor:
    """Like :func:`normal` but with ``steps + 1`` points of which the last (timestep 0) is dropped (SGM)."""
    _check_steps(steps)
    timesteps = torch.linspace(len(model_sigmas) - 1, 0, steps + 1, dtype=torch.float64)[:-1]
    return _append_zero(timestep_to_sigma(model_sigmas, timesteps))


def simple(model_sigmas: torch.Tensor, steps: int) -> torch.Tensor:
    """Evenly strided picks from the training sigmas, starting at the largest."""
    _check_steps(steps)
    stride = len(model_sigmas) / steps
    picks = [len(model_sigmas) - 1 - int(k * stride) for k in range(steps)]
    return _append_zero(model_sigmas[picks])


def ddim_uniform(model_sigmas: torch.Tensor, steps: int) -> torch.Tensor:
    """DDIM's uniform timesteps ``1 + k * (T // steps)`` (Song et al. 2021, sec. 4.2), at most ``steps``."""
    _check_steps(steps)
    stride = max(len(model_sigmas) // steps, 1)
    timesteps = list(range(1, len(model_sigmas), stride))[:steps]
    return _append_zero(model_sigmas[timesteps[::-1]])


def beta(model_sigmas: torch.Tensor, steps: int, alpha: float = 0.6, beta_: float = 0.6) -> torch.Tensor:
    """Timesteps at Beta(alpha, beta) quantiles (Lee et al. 2024, "Beta Sampling is All You Need").

    ``1 - k / steps`` for ``k = 0 .. steps - 1`` go through the Beta quantile function, are scaled to
    the timestep range and rounded; repeated timesteps are dropped.
    """
    _check_steps(steps)
    last = len(model_sigmas) - 1
    timesteps: list[int] = []
    for k in range(steps):
        t = round(beta_quantile(1.0 - k / steps, alpha, beta_) * last)
        if not timesteps or t != timesteps[-1]:
            timesteps.append(t)
    return _append_zero(model_sigmas[timesteps])


# -- the Beta distribution without scipy ---------------------------------------------------------


def regularized_incomplete_beta(x: float, a: float, b: float) -> float:
    """``I_x(a, b)``, the Beta(a, b) CDF, by its continued fraction (modified Lentz; DLMF 8.17.22)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1.0) / (a + b + 2.0):  # the fraction converges fast only below the mean: use symmetry
        return 1.0 - regularized_incomplete_beta(1.0 - x, b, a)
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    tiny = 1e-300
    value, c, d = 1.0, 1.0, 0.0  # evaluates 1 + d1 / (1 + d2 / (1 + ...))
    for j in range(1, 400):
        m = j // 2
        if j % 2:  # odd coefficients d_{2m+1}
            numerator = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        else:  # even coefficients d_{2m}
            numerator = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        d = 1.0 + numerator * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + numerator / c
        c = c if abs(c) > tiny else tiny
        value *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(log_front) / (a * value)


def beta_quantile(p: float, a: float, b: float) -> float:
    """The inverse of :func:`regularized_incomplete_beta` in ``x``, by bisection (the CDF is monotone)."""
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if regularized_incomplete_beta(mid, a, b) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-15:
            break
    return 0.5 * (lo + hi)


#: ComfyUI scheduler name -> ``(model_sigmas, steps) -> sigmas``.
SCHEDULERS: dict[str, Schedule] = {
    "normal": normal,
    "karras": karras,
    "exponential": exponential,
    "sgm_uniform": sgm_uniform,
    "simple": simple,
    "ddim_uniform": ddim_uniform,
    "beta": beta,
}
assert tuple(SCHEDULERS) == SCHEDULER_NAMES, "keep nodes/sampling/names.py in step with SCHEDULERS"


def get_scheduler(name: str) -> Schedule:
    """The schedule function for a ComfyUI scheduler name.

    Raises:
        ValueError: ``name`` is not a key of :data:`SCHEDULERS`; the message lists the valid names.
    """
    try:
        return SCHEDULERS[name]
    except KeyError:
        raise ValueError(f"unknown scheduler {name!r}; choose one of: {', '.join(SCHEDULERS)}") from None
