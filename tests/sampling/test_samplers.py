"""Every sampler on an analytic toy denoiser: conformance, convergence, and agreement with references.

The toy data distribution is Gaussian (or a single point), so the exact denoiser and the exact
probability-flow ODE solution are known (see ``GaussianToy``). Deterministic samplers must converge
to the ODE solution at their order; stochastic ones must reproduce the data distribution. The
diffusers-backed samplers are also compared step for step with independent k-diffusion-style
reference formulas and with the diffusers classes run natively on schedules they support, which
proves that our schedule reaches the step rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    KDPM2DiscreteScheduler,
    UniPCMultistepScheduler,
)

from nodes.sampling.model import SD_TRAINING_SCHEDULE
from nodes.sampling.own_samplers import lms_coefficient
from nodes.sampling.samplers import SAMPLERS, get_sampler
from nodes.sampling.schedules import SCHEDULERS
from tests.sampling.conftest import MODEL_SIGMAS, GaussianToy

# diffusers 0.42 run natively below calls np.log / np.array on torch tensors (numpy-2 deprecation noise)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

STOCHASTIC = {"euler_ancestral", "dpm_2_ancestral", "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_2m_sde", "ddpm", "lcm"}
DETERMINISTIC = sorted(set(SAMPLERS) - STOCHASTIC)
#: error ratio when the step count doubles: about 2 for first-order methods, about 4+ for second order
CONVERGENCE = {"euler": 1.8, "ddim": 1.8, "heun": 3.5, "dpm_2": 3.5, "dpmpp_2m": 3.5, "lms": 3.5, "deis": 3.5,
               "uni_pc": 3.0, "uni_pc_bh2": 3.0}


def _noise(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _karras(steps: int) -> torch.Tensor:
    return SCHEDULERS["karras"](MODEL_SIGMAS, steps)


def _run(name: str, toy: Callable[..., torch.Tensor], x: torch.Tensor, sigmas: torch.Tensor, seed: int = 0,
         **kwargs: object) -> torch.Tensor:
    return SAMPLERS[name](toy, x, sigmas, generator=torch.Generator().manual_seed(seed), **kwargs)


def test_deterministic_and_stochastic_lists_cover_the_registry() -> None:
    assert STOCHASTIC == {name for name, sampler in SAMPLERS.items() if sampler.stochastic}
    assert set(CONVERGENCE) == set(DETERMINISTIC)


def test_unknown_sampler_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown sampler 'euler_a'; choose one of: euler, euler_ancestral,.*bh2"):
        get_sampler("euler_a")


# -- conformance: every sampler -------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SAMPLERS))
class TestSamplerConformance:
    def test_steps_report_once_each_and_keep_shape(self, name: str) -> None:
        toy, sigmas, reports = GaussianToy(), _karras(5), []
        x = toy.start(_noise(2, 4, 8, 8), float(sigmas[0]))
        out = _run(name, toy, x, sigmas, callback=reports.append)
        assert out.shape == x.shape and out.dtype == torch.float32 and torch.isfinite(out).all()
        assert [r["i"] for r in reports] == list(range(5)) and {r["total"] for r in reports} == {5}
        assert [float(r["sigma"]) for r in reports] == sigmas[:-1].tolist()
        assert all(set(r) == {"i", "total", "x", "denoised", "sigma"} for r in reports)
        torch.testing.assert_close(reports[-1]["x"], out)

    def test_follows_the_given_schedule(self, name: str) -> None:
        toy, sigmas = GaussianToy(), SCHEDULERS["beta"](MODEL_SIGMAS, 6)
        _run(name, toy, toy.start(_noise(1, 4, 4, 4), float(sigmas[0])), sigmas)
        seen = iter(toy.sigmas_seen)  # each step's first evaluation is at that step's sigma, in order
        assert all(any(math.isclose(s, level, rel_tol=1e-6) for s in seen) for level in sigmas[:-1].tolist())
        assert math.isclose(toy.sigmas_seen[0], float(sigmas[0]), rel_tol=1e-6)

    def test_point_mass_is_reached_exactly(self, name: str) -> None:
        toy, sigmas = GaussianToy(mu=0.25, sd=0.0), _karras(4)
        out = _run(name, toy, toy.start(_noise(1, 4, 8, 8), float(sigmas[0])), sigmas)
        torch.testing.assert_close(out, torch.full_like(out, 0.25), atol=1e-5, rtol=0)

    def test_same_seed_is_bitwise_identical(self, name: str) -> None:
        toy, sigmas = GaussianToy(), _karras(6)
        x = toy.start(_noise(1, 4, 8, 8), float(sigmas[0]))
        first, second, other = (_run(name, toy, x, sigmas, seed=s) for s in (7, 7, 8))
        assert torch.equal(first, second)
        assert torch.equal(first, other) == (name not in STOCHASTIC)

    def test_ends_at_a_nonzero_sigma(self, name: str) -> None:
        toy, sigmas = GaussianToy(), _karras(6)[:4]
        out = _run(name, toy, toy.start(_noise(1, 4, 8, 8), float(sigmas[0])), sigmas)
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(STOCHASTIC))
def test_stochastic_samplers_refuse_the_global_rng(name: str) -> None:
    toy, sigmas = GaussianToy(), _karras(3)
    with pytest.raises(ValueError, match="torch.Generator"):
        SAMPLERS[name](toy, toy.start(_noise(1, 4, 4, 4), float(sigmas[0])), sigmas, generator=None)


# -- golden numerical checks ------------------------------------------------------------------------


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_samplers_converge_to_the_ode_solution(name: str) -> None:
    """Error against the exact ODE solution at sigma_min (the last step to 0 is first order for all)."""
    toy, noise, errors = GaussianToy(), _noise(1, 4, 16, 16), []
    for steps in (20, 40):
        sigmas = _karras(steps)[:-1]
        x = toy.start(noise, float(sigmas[0]))
        out = _run(name, toy, x, sigmas)
        errors.append(float((out - toy.ode_solution(x, float(sigmas[0]), float(sigmas[-1]))).abs().max()))
    assert errors[1] < 0.07 and errors[0] / errors[1] > CONVERGENCE[name], errors


@pytest.mark.parametrize("name", sorted(STOCHASTIC - {"lcm"}))
def test_stochastic_samplers_reproduce_the_data_distribution(name: str) -> None:
    toy, sigmas = GaussianToy(mu=0.5, sd=0.3), _karras(200)
    out = _run(name, toy, toy.start(_noise(1, 4, 64, 64), float(sigmas[0])), sigmas)
    assert out.mean().item() == pytest.approx(0.5, abs=0.01)
    assert out.std().item() == pytest.approx(0.3, abs=0.02)


def test_lcm_variance_follows_its_recursion() -> None:
    """LCM jumps to the posterior mean and re-noises: Var' = w^2 Var + sigma_next^2, w = sd^2 / (sd^2 + sigma^2)."""
    toy, sigmas = GaussianToy(mu=0.5, sd=0.3), _karras(8)
    out = _run("lcm", toy, toy.start(_noise(1, 4, 64, 64), float(sigmas[0])), sigmas)
    variance = toy.sd**2 + float(sigmas[0]) ** 2
    for sigma, sigma_next in zip(sigmas[:-1].tolist(), sigmas[1:].tolist()):
        variance = (toy.sd**2 / (toy.sd**2 + sigma**2)) ** 2 * variance + sigma_next**2
    assert out.mean().item() == pytest.approx(0.5, abs=0.01)
    assert out.var().item() == pytest.approx(variance, rel=0.05)


@pytest.mark.parametrize("name", ["euler", "heun", "dpm_2", "ddim"])
def test_history_free_samplers_can_be_split(name: str) -> None:
    """Running steps 0..k (leftover noise) then k..n equals one run: what KSamplerAdvanced chains rely on."""
    toy, sigmas = GaussianToy(), _karras(8)
    x = toy.start(_noise(1, 4, 8, 8), float(sigmas[0]))
    whole = _run(name, toy, x, sigmas)
    split = _run(name, toy, _run(name, toy, x, sigmas[:4]), sigmas[3:])
    torch.testing.assert_close(split, whole, atol=1e-6, rtol=0)


# -- diffusers-backed samplers against references --------------------------------------------------


def _reference_euler(toy: GaussianToy, x: torch.Tensor, sigmas: list[float]) -> torch.Tensor:
    for s, n in zip(sigmas[:-1], sigmas[1:]):  # Karras et al. 2022, alg. 1 without the correction
        x = x + (x - toy(x, s)) / s * (n - s)
    return x


def _reference_heun(toy: GaussianToy, x: torch.Tensor, sigmas: list[float], midpoint: bool) -> torch.Tensor:
    for s, n in zip(sigmas[:-1], sigmas[1:]):  # Karras et al. 2022, alg. 1 (Heun) / DPM-Solver-2
        d = (x - toy(x, s)) / s
        if n == 0:
            x = x + d * (n - s)
            continue
        second = math.sqrt(s * n) if midpoint else n
        x_2 = x + d * (second - s)
        d_2 = (x_2 - toy(x_2, second)) / second
        x = x + (d_2 if midpoint else (d + d_2) / 2) * (n - s)
    return x


def _reference_dpmpp_2m(toy: GaussianToy, x: torch.Tensor, sigmas: list[float]) -> torch.Tensor:
    previous, h_previous = None, None  # Lu et al. 2022b, alg. 2 in k-diffusion variables
    for s, n in zip(sigmas[:-1], sigmas[1:]):
        denoised = toy(x, s)
        if n == 0 or previous is None:
            x = (n / s) * x + (1 - n / s) * denoised
        else:
            h = math.log(s / n)
            r = h_previous / h
            blended = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * previous
            x = (n / s) * x + (1 - n / s) * blended
        previous, h_previous = denoised, (math.log(s / n) if n else None)
    return x


def _reference_euler_ancestral(toy: GaussianToy, x: torch.Tensor, sigmas: list[float], seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    for s, n in zip(sigmas[:-1], sigmas[1:]):
        up = math.sqrt(n**2 * (s**2 - n**2) / s**2)
        down = math.sqrt(n**2 - up**2)
        x = x + (x - toy(x, s)) / s * (down - s)
        x = x + torch.randn(x.shape, generator=generator) * up
    return x


@pytest.mark.parametrize("end", [None, -3])  # -3: stop with leftover noise, no first-order final step
@pytest.mark.parametrize("schedule", ["beta", "normal", "exponential"])
def test_diffusers_backed_samplers_match_reference_formulas(schedule: str, end: int | None) -> None:
    toy, sigmas = GaussianToy(), SCHEDULERS[schedule](MODEL_SIGMAS, 7)[:end]
    x = toy.start(_noise(1, 4, 8, 8), float(sigmas[0]))
    levels = sigmas.tolist()
    expected = {
        "euler": _reference_euler(toy, x, levels),
        "heun": _reference_heun(toy, x, levels, midpoint=False),
        "dpm_2": _reference_heun(toy, x, levels, midpoint=True),
        "dpmpp_2m": _reference_dpmpp_2m(toy, x, levels),
        "euler_ancestral": _reference_euler_ancestral(toy, x, levels, seed=3),
    }
    for name, reference in expected.items():
        torch.testing.assert_close(_run(name, toy, x, sigmas, seed=3), reference, atol=2e-5, rtol=1e-5, msg=name)


def _native(scheduler: object, toy: GaussianToy, x: torch.Tensor, *, vp: bool, generator: torch.Generator | None = None,
            last: int | None = None) -> torch.Tensor:
    """Run a diffusers scheduler the pipeline way, feeding it the toy's eps; ``x`` is in k-diffusion space.

    The toy is evaluated at the sigma the scheduler itself uses for the call (KDPM2's second call
    uses its interpolated sigma).
    """
    sigmas = scheduler.sigmas
    sample = x / math.sqrt(1 + float(sigmas[0]) ** 2) if vp else x
    extra = {"generator": generator} if generator is not None else {}
    for i, t in enumerate(scheduler.timesteps[:last]):
        if vp:
            sigma = float(sigmas[i])
            x_k = sample * math.sqrt(1 + sigma**2)
        else:
            scheduler.scale_model_input(sample, t)  # also initialises step_index
            interpolated = isinstance(scheduler, KDPM2DiscreteScheduler) and not scheduler.state_in_first_order
            sigma = float((scheduler.sigmas_interpol if interpolated else sigmas)[scheduler.step_index])
            x_k = sample
        sample = scheduler.step((x_k - toy(x_k, sigma)) / sigma, t, sample, **extra).prev_sample
    if vp:
        return sample * math.sqrt(1 + float(sigmas[len(scheduler.timesteps[:last])]) ** 2)
    return sample


@pytest.mark.parametrize(
    ("name", "cls", "options", "vp"),
    [
        ("euler", EulerDiscreteScheduler, {"use_karras_sigmas": True}, False),
        ("heun", HeunDiscreteScheduler, {"use_karras_sigmas": True}, False),
        ("dpm_2", KDPM2DiscreteScheduler, {"use_karras_sigmas": True}, False),
        ("euler_ancestral", EulerAncestralDiscreteScheduler, {}, False),
        ("dpmpp_2m", DPMSolverMultistepScheduler, {"use_karras_sigmas": True, "algorithm_type": "dpmsolver++"}, True),
        ("dpmpp_2m_sde", DPMSolverMultistepScheduler, {"use_karras_sigmas": True, "algorithm_type": "sde-dpmsolver++"},
         True),
        ("uni_pc_bh2", UniPCMultistepScheduler, {"use_karras_sigmas": True, "solver_order": 3}, True),
    ],
)
def test_samplers_match_their_diffusers_class_run_natively(name: str, cls: type, options: dict, vp: bool) -> None:
    scheduler = cls(**SD_TRAINING_SCHEDULE, prediction_type="epsilon", **options)
    scheduler.set_timesteps(7)
    sigmas = torch.unique_consecutive(scheduler.sigmas)  # Heun and KDPM2 store each sigma twice
    toy = GaussianToy()
    x = toy.start(_noise(1, 4, 8, 8), float(sigmas[0]))
    stochastic = SAMPLERS[name].stochastic
    native = _native(scheduler, toy, x, vp=vp, generator=torch.Generator().manual_seed(5) if stochastic else None)
    ours = _run(name, toy, x, sigmas, seed=5)
    torch.testing.assert_close(ours, native, atol=2e-5, rtol=1e-5)


def test_uni_pc_bh1_matches_diffusers_before_its_nan_final_step() -> None:
    scheduler = UniPCMultistepScheduler(**SD_TRAINING_SCHEDULE, use_karras_sigmas=True, solver_type="bh1",
                                        solver_order=3)
    scheduler.set_timesteps(7)
    toy, reports = GaussianToy(), []
    x = toy.start(_noise(1, 4, 8, 8), float(scheduler.sigmas[0]))
    native = _native(scheduler, toy, x, vp=True, last=6)
    ours = _run("uni_pc", toy, x, scheduler.sigmas.clone(), callback=reports.append)
    torch.testing.assert_close(reports[5]["x"], native, atol=2e-5, rtol=1e-5)
    assert torch.isfinite(ours).all()


def test_ddim_with_ddim_uniform_is_diffusers_ddim() -> None:
    scheduler = DDIMScheduler(**SD_TRAINING_SCHEDULE, timestep_spacing="leading", steps_offset=1,
                              set_alpha_to_one=True, clip_sample=False)
    scheduler.set_timesteps(10)
    toy, sigmas = GaussianToy(), SCHEDULERS["ddim_uniform"](MODEL_SIGMAS, 10)
    x = toy.start(_noise(1, 4, 8, 8), float(sigmas[0]))
    sample = x / math.sqrt(1 + float(sigmas[0]) ** 2)
    for t in scheduler.timesteps:
        sigma = float(MODEL_SIGMAS[t])
        x_k = sample * math.sqrt(1 + sigma**2)
        sample = scheduler.step((x_k - toy(x_k, sigma)) / sigma, t, sample).prev_sample
    torch.testing.assert_close(_run("ddim", toy, x, sigmas), sample, atol=2e-5, rtol=1e-5)


def test_ddpm_is_diffusers_ddpm_on_integer_timesteps() -> None:
    scheduler = DDPMScheduler(**SD_TRAINING_SCHEDULE, clip_sample=False)
    scheduler.set_timesteps(10)  # 900, 800, ..., 0
    sigmas = torch.cat([MODEL_SIGMAS[scheduler.timesteps], torch.zeros(1)])
    toy, generator = GaussianToy(), torch.Generator().manual_seed(11)
    x = toy.start(_noise(1, 4, 8, 8), float(sigmas[0]))
    sample = x / math.sqrt(1 + float(sigmas[0]) ** 2)
    for t in scheduler.timesteps:
        sigma = float(MODEL_SIGMAS[t])
        x_k = sample * math.sqrt(1 + sigma**2)
        sample = scheduler.step((x_k - toy(x_k, sigma)) / sigma, t, sample, generator=generator).prev_sample
    torch.testing.assert_close(_run("ddpm", toy, x, sigmas, seed=11), sample, atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize(("i", "order"), [(0, 1), (1, 2), (3, 4), (6, 4)])
def test_lms_coefficients_integrate_the_lagrange_basis(i: int, order: int) -> None:
    sigmas = _karras(8).double().tolist()
    for j in range(order):
        nodes = [sigmas[i - k] for k in range(order)]
        grid = torch.linspace(sigmas[i], sigmas[i + 1], 20001, dtype=torch.float64)
        basis = torch.ones_like(grid)
        for k, node in enumerate(nodes):
            if k != j:
                basis = basis * (grid - node) / (nodes[j] - node)
        assert lms_coefficient(sigmas, i, j, order) == pytest.approx(float(torch.trapezoid(basis, grid)), rel=1e-6)
