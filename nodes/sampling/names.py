"""The sampler and scheduler names the sampling library offers, importable without torch.

The node layer builds its ``sampler_name`` / ``scheduler`` combo inputs from these tuples; the
implementations live in :data:`nodes.sampling.samplers.SAMPLERS` and
:data:`nodes.sampling.schedules.SCHEDULERS`, whose keys a test keeps equal to these names (same order).
"""

from __future__ import annotations

#: Sampler names, a subset of ComfyUI's ``KSampler.SAMPLERS`` in ComfyUI's order.
SAMPLER_NAMES: tuple[str, ...] = (
    "euler",
    "euler_ancestral",
    "heun",
    "dpm_2",
    "dpm_2_ancestral",
    "lms",
    "dpmpp_2s_ancestral",
    "dpmpp_sde",
    "dpmpp_2m",
    "dpmpp_2m_sde",
    "ddpm",
    "lcm",
    "deis",
    "ddim",
    "uni_pc",
    "uni_pc_bh2",
)

#: Scheduler names, a subset of ComfyUI's ``KSampler.SCHEDULERS``.
SCHEDULER_NAMES: tuple[str, ...] = (
    "normal",
    "karras",
    "exponential",
    "sgm_uniform",
    "simple",
    "ddim_uniform",
    "beta",
)
