"""Sigma schedules: shape rules for every name, and the formulas checked against diffusers and closed forms."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, EulerDiscreteScheduler

from nodes.sampling.model import SD_TRAINING_SCHEDULE, sigma_to_timestep, timestep_to_sigma
from nodes.sampling.names import SAMPLER_NAMES, SCHEDULER_NAMES
from nodes.sampling.schedules import (
    SCHEDULERS,
    beta_quantile,
    get_scheduler,
    regularized_incomplete_beta,
)
from tests.sampling.conftest import MODEL_SIGMAS

# diffusers 0.42 run natively below calls np.array on torch tensors (numpy-2 deprecation noise)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_names_module_needs_no_torch() -> None:
    code = "import sys, nodes.sampling, nodes.sampling.names; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_registry_keys_match_the_published_names() -> None:
    from nodes.sampling.samplers import SAMPLERS

    assert tuple(SCHEDULERS) == SCHEDULER_NAMES
    assert tuple(SAMPLERS) == SAMPLER_NAMES


def test_unknown_scheduler_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown scheduler 'linear'.*normal, karras.*beta"):
        get_scheduler("linear")


@pytest.mark.parametrize("name", SCHEDULER_NAMES)
@pytest.mark.parametrize("steps", [1, 2, 7, 30])
def test_schedule_shape(name: str, steps: int) -> None:
    sigmas = SCHEDULERS[name](MODEL_SIGMAS, steps)
    assert sigmas.dtype == torch.float32 and sigmas.ndim == 1
    assert sigmas[-1] == 0.0
    assert torch.all(sigmas[:-1] > sigmas[1:]), sigmas  # strictly decreasing: no zero-length steps
    assert float(sigmas[0]) <= float(MODEL_SIGMAS[-1]) * (1 + 1e-6)
    if name in ("beta", "ddim_uniform"):
        assert 2 <= len(sigmas) <= steps + 1
    else:
        assert len(sigmas) == steps + 1
        assert sigmas[0] == pytest.approx(float(MODEL_SIGMAS[-1]), rel=1e-5)


@pytest.mark.parametrize("name", SCHEDULER_NAMES)
def test_steps_below_one_are_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="steps must be at least 1, got 0"):
        SCHEDULERS[name](MODEL_SIGMAS, 0)


@pytest.mark.parametrize(("name", "flag"), [("karras", "use_karras_sigmas"), ("exponential", "use_exponential_sigmas")])
def test_formula_schedules_match_diffusers(name: str, flag: str) -> None:
    reference = EulerDiscreteScheduler(**SD_TRAINING_SCHEDULE, **{flag: True})
    reference.set_timesteps(12)
    torch.testing.assert_close(SCHEDULERS[name](MODEL_SIGMAS, 12), reference.sigmas, rtol=1e-5, atol=1e-6)


def test_normal_hits_training_sigmas_at_integer_timesteps() -> None:
    expected = torch.cat([MODEL_SIGMAS[[999, 666, 333, 0]], torch.zeros(1)])
    torch.testing.assert_close(SCHEDULERS["normal"](MODEL_SIGMAS, 4), expected)


def test_sgm_uniform_drops_the_last_timestep() -> None:
    # timesteps 999, 749.25, 499.5, 249.75 (0 dropped): log-linear between neighbours
    expected = timestep_to_sigma(MODEL_SIGMAS, torch.tensor([999.0, 749.25, 499.5, 249.75]))
    torch.testing.assert_close(SCHEDULERS["sgm_uniform"](MODEL_SIGMAS, 4)[:-1], expected)


def test_simple_strides_through_the_training_sigmas() -> None:
    expected = torch.cat([MODEL_SIGMAS[[999, 749, 499, 249]], torch.zeros(1)])
    torch.testing.assert_close(SCHEDULERS["simple"](MODEL_SIGMAS, 4), expected)


@pytest.mark.parametrize("steps", [4, 10, 30])
def test_ddim_uniform_matches_diffusers_leading_spacing(steps: int) -> None:
    reference = DDIMScheduler(**SD_TRAINING_SCHEDULE, timestep_spacing="leading", steps_offset=1)
    reference.set_timesteps(steps)
    expected = torch.cat([MODEL_SIGMAS[reference.timesteps], torch.zeros(1)])
    torch.testing.assert_close(SCHEDULERS["ddim_uniform"](MODEL_SIGMAS, steps), expected)


def test_beta_schedule_uses_beta_quantiles() -> None:
    sigmas = SCHEDULERS["beta"](MODEL_SIGMAS, 4)
    timesteps = [round(beta_quantile(1 - k / 4, 0.6, 0.6) * 999) for k in range(4)]
    assert timesteps[0] == 999 and timesteps[2] == round(0.5 * 999)  # symmetric distribution: median 1/2
    torch.testing.assert_close(sigmas, torch.cat([MODEL_SIGMAS[timesteps], torch.zeros(1)]))


def test_beta_schedule_drops_repeated_timesteps() -> None:
    sigmas = SCHEDULERS["beta"](MODEL_SIGMAS, 400)
    assert len(sigmas) < 401 and torch.all(sigmas[:-1] > sigmas[1:])


@pytest.mark.parametrize("x", [0.0, 0.01, 0.2, 0.5, 0.77, 0.999, 1.0])
def test_incomplete_beta_closed_forms(x: float) -> None:
    assert regularized_incomplete_beta(x, 1.0, 1.0) == pytest.approx(x, abs=1e-12)  # uniform
    assert regularized_incomplete_beta(x, 2.0, 2.0) == pytest.approx(3 * x**2 - 2 * x**3, abs=1e-12)
    arcsine = 2 / math.pi * math.asin(math.sqrt(x))
    assert regularized_incomplete_beta(x, 0.5, 0.5) == pytest.approx(arcsine, abs=1e-12)


@pytest.mark.parametrize("p", [1e-6, 0.05, 0.3, 0.5, 0.9, 0.999999])
def test_beta_quantile_inverts_the_cdf(p: float) -> None:
    x = beta_quantile(p, 0.6, 0.6)
    assert regularized_incomplete_beta(x, 0.6, 0.6) == pytest.approx(p, abs=1e-12)
    assert beta_quantile(1 - p, 0.6, 0.6) == pytest.approx(1 - x, abs=1e-9)  # symmetry


def test_sigma_timestep_round_trip() -> None:
    timesteps = torch.tensor([0.0, 1.0, 10.5, 500.0, 998.25, 999.0])
    round_trip = sigma_to_timestep(MODEL_SIGMAS, timestep_to_sigma(MODEL_SIGMAS, timesteps))
    torch.testing.assert_close(round_trip, timesteps, atol=2e-4, rtol=0)
    integer = torch.arange(0, 1000, 37)
    at_training_steps = sigma_to_timestep(MODEL_SIGMAS, MODEL_SIGMAS[integer])
    torch.testing.assert_close(at_training_steps, integer.float(), atol=2e-4, rtol=0)


def test_training_sigmas_match_diffusers() -> None:
    reference = EulerDiscreteScheduler(**SD_TRAINING_SCHEDULE)
    alphas = reference.alphas_cumprod.double()
    # diffusers builds the betas in float32, we in float64
    np.testing.assert_allclose(MODEL_SIGMAS.numpy(), ((1 - alphas) / alphas).sqrt().numpy(), rtol=5e-5)
