"""The model handle the sampling library works on, and its training noise schedule.

A :class:`DiffusionModel` is a diffusers ``UNet2DConditionModel`` plus the few facts the sampler needs
that the UNet itself does not carry: what it predicts (``epsilon`` or ``v_prediction``), the DDPM
schedule it was trained with, and whether it takes SDXL's added conditioning. Loading checkpoints and
deciding those facts is the model loader's job (``nodes/models``); this module only describes them.

Everything here speaks k-diffusion's noise level ``sigma``: a latent at noise level sigma is
``x = x0 + sigma * eps``, and the training schedule maps each discrete timestep ``t`` to
``sigma_t = sqrt((1 - alphas_cumprod[t]) / alphas_cumprod[t])`` (Karras et al. 2022, "Elucidating the
Design Space of Diffusion-Based Generative Models", table 1, the "VP" column). Conversions between
continuous timesteps and sigmas interpolate linearly in log-sigma between neighbouring timesteps,
as k-diffusion's ``DiscreteSchedule`` does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import torch

if TYPE_CHECKING:  # the diffusers import costs seconds; the handle only needs the type
    from diffusers import UNet2DConditionModel

PredictionType = Literal["epsilon", "v_prediction"]
Family = Literal["sd1", "sdxl"]

#: The DDPM training schedule of SD1.x, SD2.x and SDXL (diffusers scheduler-config keys).
SD_TRAINING_SCHEDULE: Mapping[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
}

_BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")


def training_alphas_cumprod(config: Mapping[str, Any]) -> torch.Tensor:
    """The cumulative products of ``1 - beta_t`` of a DDPM training schedule, float64, one per timestep.

    Args:
        config: diffusers scheduler-config keys ``num_train_timesteps``, ``beta_start``, ``beta_end``,
            ``beta_schedule`` (``linear``, ``scaled_linear`` or ``squaredcos_cap_v2``) and optionally
            ``trained_betas``; other keys are ignored.

    Returns:
        A float64 tensor of ``num_train_timesteps`` values, decreasing from about 1.

    Raises:
        ValueError: an unknown ``beta_schedule``.
    """
    if config.get("trained_betas") is not None:
        betas = torch.as_tensor(config["trained_betas"], dtype=torch.float64)
        return torch.cumprod(1.0 - betas, dim=0)
    steps = int(config.get("num_train_timesteps", 1000))
    start = float(config.get("beta_start", 0.0001))
    end = float(config.get("beta_end", 0.02))
    kind = config.get("beta_schedule", "linear")
    if kind == "linear":  # Ho et al. 2020
        betas = torch.linspace(start, end, steps, dtype=torch.float64)
    elif kind == "scaled_linear":  # latent diffusion (Rombach et al. 2022): linear in sqrt(beta)
        betas = torch.linspace(math.sqrt(start), math.sqrt(end), steps, dtype=torch.float64) ** 2
    elif kind == "squaredcos_cap_v2":  # Nichol & Dhariwal 2021, eq. 17
        def alpha_bar(t: float) -> float:
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

        betas = torch.tensor(
            [min(1 - alpha_bar((i + 1) / steps) / alpha_bar(i / steps), 0.999) for i in range(steps)],
            dtype=torch.float64,
        )
    else:
        raise ValueError(
            f"scheduler_config['beta_schedule'] = {kind!r} is not supported; use one of {list(_BETA_SCHEDULES)}"
        )
    return torch.cumprod(1.0 - betas, dim=0)


def training_sigmas(config: Mapping[str, Any]) -> torch.Tensor:
    """The noise level of every training timestep, float32, increasing with the timestep."""
    alphas_cumprod = training_alphas_cumprod(config)
    return ((1 - alphas_cumprod) / alphas_cumprod).sqrt().float()


def sigma_to_timestep(model_sigmas: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Continuous timestep(s) for noise level(s) ``sigma``: piecewise-linear in log-sigma, clamped to the range."""
    log_sigmas = model_sigmas.double().log()
    log_sigma = torch.as_tensor(sigma, dtype=torch.float64).clamp(min=1e-10).log()
    low = (torch.searchsorted(log_sigmas, log_sigma, right=True) - 1).clamp(0, len(log_sigmas) - 2)
    lo, hi = log_sigmas[low], log_sigmas[low + 1]
    weight = ((log_sigma - lo) / (hi - lo)).clamp(0, 1)
    return (low + weight).float()


def timestep_to_sigma(model_sigmas: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
    """Noise level(s) at continuous timestep(s): log-linear between neighbouring training timesteps."""
    t = torch.as_tensor(timestep, dtype=torch.float64).clamp(0, len(model_sigmas) - 1)
    low = t.floor().long().clamp(max=len(model_sigmas) - 2)
    weight = t - low
    log_sigmas = model_sigmas.double().log()
    return ((1 - weight) * log_sigmas[low] + weight * log_sigmas[low + 1]).exp().float()


def percent_to_sigma(model_sigmas: torch.Tensor, percent: float) -> float:
    """ComfyUI's sampling-progress percent to a noise level: 0 is above any sigma, 1 is 0.

    The percent is of the model's timestep range, not of the sampler's steps: ``p`` maps to the
    sigma at timestep ``(1 - p) * (T - 1)``.
    """
    if percent <= 0.0:
        return math.inf
    if percent >= 1.0:
        return 0.0
    return float(timestep_to_sigma(model_sigmas, torch.tensor((1.0 - percent) * (len(model_sigmas) - 1))))


@dataclass(frozen=True, eq=False)
class DiffusionModel:
    """A diffusers UNet and the facts needed to sample from it.

    Args:
        unet: a diffusers ``UNet2DConditionModel``; its device and dtype are the sampling device/dtype.
        prediction_type: ``"epsilon"`` (SD1.x, SD2-base, SDXL) or ``"v_prediction"`` (SD2 768-v).
        scheduler_config: the DDPM training schedule as diffusers scheduler-config keys; see
            :func:`training_alphas_cumprod`. Defaults to :data:`SD_TRAINING_SCHEDULE`.
        is_sdxl: the UNet takes ``added_cond_kwargs`` (``text_embeds`` from the pooled output of the
            second text encoder and six ``time_ids``).
        latent_channels: channels of the latent space (4 for SD1/SD2/SDXL).
        latent_scale, latent_shift: LATENT values hold the VAE's own latents, as in ComfyUI; the UNet works
            on ``(latent - shift) * scale`` (0.18215 for SD1/SD2, 0.13025 for SDXL). See :meth:`latent_in`.
        compute_device: where inputs go; None: where the UNet's first weight is. The model manager sets it,
            since a UNet streamed block by block keeps some weights on the offload device between calls.

    Raises:
        ValueError: an unknown ``prediction_type`` or ``beta_schedule``.
    """

    unet: UNet2DConditionModel
    prediction_type: PredictionType = "epsilon"
    scheduler_config: Mapping[str, Any] = field(default_factory=lambda: dict(SD_TRAINING_SCHEDULE))
    is_sdxl: bool = False
    latent_channels: int = 4
    latent_scale: float = 1.0
    latent_shift: float = 0.0
    compute_device: torch.device | None = None

    def latent_in(self, samples: torch.Tensor) -> torch.Tensor:
        """VAE latents (what LATENT carries) -> the UNet's latent space (ComfyUI's process_latent_in)."""
        return (samples - self.latent_shift) * self.latent_scale

    def latent_out(self, samples: torch.Tensor) -> torch.Tensor:
        """The UNet's latent space -> VAE latents (ComfyUI's process_latent_out)."""
        return samples / self.latent_scale + self.latent_shift

    def __post_init__(self) -> None:
        if self.prediction_type not in ("epsilon", "v_prediction"):
            raise ValueError(
                f"prediction_type={self.prediction_type!r} is not supported; use 'epsilon' or 'v_prediction'"
            )
        training_alphas_cumprod(self.scheduler_config)  # validate the schedule now, not mid-run

    @cached_property
    def sigmas(self) -> torch.Tensor:
        """The noise level of every training timestep (float32, CPU, increasing)."""
        return training_sigmas(self.scheduler_config)

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    @property
    def family(self) -> Family:
        """The latent-space family, for previews: ``"sdxl"`` or ``"sd1"`` (SD1.x and SD2.x share a VAE)."""
        return "sdxl" if self.is_sdxl else "sd1"

    @property
    def device(self) -> torch.device:
        return self.compute_device if self.compute_device is not None else next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype
