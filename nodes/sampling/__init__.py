"""The sampling library behind ComfyUI's KSampler / KSamplerAdvanced, on diffusers models.

Layout (one concern per module):

- :mod:`~nodes.sampling.model`: :class:`DiffusionModel`, the model handle, and its training sigmas.
- :mod:`~nodes.sampling.conditioning`: ComfyUI conditioning lists resolved into weighted regions.
- :mod:`~nodes.sampling.denoiser`: :class:`Denoiser`, the ``denoise(x, sigma) -> x0`` adapter
  (timestep, c_in, eps/v, areas, CFG, inpainting).
- :mod:`~nodes.sampling.schedules`: sigma schedules, :data:`SCHEDULERS`.
- :mod:`~nodes.sampling.samplers`: the one sampling loop and :data:`SAMPLERS`, backed by
  :mod:`~nodes.sampling.diffusers_steppers` (diffusers scheduler classes) and
  :mod:`~nodes.sampling.own_samplers` (paper-cited steps diffusers cannot provide).
- :mod:`~nodes.sampling.noise`: seeded initial noise and noise masks.
- :mod:`~nodes.sampling.sample`: :func:`ksampler` and :func:`ksampler_advanced`.
- :mod:`~nodes.sampling.preview`: :func:`latent_to_rgb_preview`.
- :mod:`~nodes.sampling.names`: the sampler/scheduler names, importable without torch.

Importing this package is cheap: the names are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from nodes.sampling.names import SAMPLER_NAMES, SCHEDULER_NAMES

if TYPE_CHECKING:
    from nodes.sampling.denoiser import Denoiser, Inpaint
    from nodes.sampling.model import SD_TRAINING_SCHEDULE, DiffusionModel
    from nodes.sampling.noise import prepare_noise, prepare_noise_mask
    from nodes.sampling.preview import latent_to_rgb_preview
    from nodes.sampling.sample import SamplingJob, ksampler, ksampler_advanced, ksampler_sigmas, run_job
    from nodes.sampling.samplers import SAMPLERS, Sampler, get_sampler, sample_loop
    from nodes.sampling.schedules import SCHEDULERS, get_scheduler

_LAZY = {
    "DiffusionModel": "model",
    "SD_TRAINING_SCHEDULE": "model",
    "Denoiser": "denoiser",
    "Inpaint": "denoiser",
    "SCHEDULERS": "schedules",
    "get_scheduler": "schedules",
    "SAMPLERS": "samplers",
    "Sampler": "samplers",
    "get_sampler": "samplers",
    "sample_loop": "samplers",
    "prepare_noise": "noise",
    "prepare_noise_mask": "noise",
    "SamplingJob": "sample",
    "ksampler": "sample",
    "ksampler_advanced": "sample",
    "ksampler_sigmas": "sample",
    "run_job": "sample",
    "latent_to_rgb_preview": "preview",
}

__all__ = ["SAMPLER_NAMES", "SCHEDULER_NAMES", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nodes.sampling' has no attribute {name!r}")
    return getattr(importlib.import_module(f"nodes.sampling.{module}"), name)
