"""KSampler / KSamplerAdvanced on tiny real UNets: every combination runs, and ComfyUI's job semantics hold."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from PIL import Image

from nodes.sampling.model import DiffusionModel
from nodes.sampling.names import SAMPLER_NAMES, SCHEDULER_NAMES
from nodes.sampling.noise import prepare_noise, prepare_noise_mask
from nodes.sampling.preview import latent_to_rgb_preview
from nodes.sampling.sample import SamplingJob, job_sigmas, ksampler, ksampler_advanced, ksampler_sigmas
from nodes.sampling.samplers import SAMPLERS
from nodes.sampling.schedules import SCHEDULERS
from tests.sampling.conftest import MODEL_SIGMAS, cond

POSITIVE = [cond(seed=1)]
NEGATIVE = [cond(seed=2)]


def _latent(batch: int = 1, *, seed: int | None = None, **extra: Any) -> dict[str, Any]:
    if seed is None:
        samples = torch.zeros(batch, 4, 8, 8)
    else:
        samples = torch.randn(batch, 4, 8, 8, generator=torch.Generator().manual_seed(seed))
    return {"samples": samples, **extra}


@pytest.mark.parametrize("scheduler", SCHEDULER_NAMES)
@pytest.mark.parametrize("sampler", SAMPLER_NAMES)
def test_every_sampler_with_every_scheduler(sd_model: DiffusionModel, sampler: str, scheduler: str) -> None:
    out = ksampler(sd_model, 3, 2, 6.0, sampler, scheduler, POSITIVE, NEGATIVE, _latent())
    assert out["samples"].shape == (1, 4, 8, 8) and torch.isfinite(out["samples"]).all()


def test_unknown_names_list_the_choices(sd_model: DiffusionModel) -> None:
    with pytest.raises(ValueError, match=r"unknown sampler 'k_euler'; choose one of: euler, "):
        ksampler(sd_model, 0, 2, 6.0, "k_euler", "normal", POSITIVE, NEGATIVE, _latent())
    with pytest.raises(ValueError, match=r"unknown scheduler 'linear_quadratic'; choose one of: normal, "):
        ksampler(sd_model, 0, 2, 6.0, "euler", "linear_quadratic", POSITIVE, NEGATIVE, _latent())


@pytest.mark.parametrize("sampler", ["euler", "euler_ancestral", "dpmpp_2m_sde", "dpmpp_sde"])
def test_same_seed_same_bits(sd_model: DiffusionModel, sampler: str) -> None:
    runs = [ksampler(sd_model, seed, 3, 6.0, sampler, "karras", POSITIVE, NEGATIVE, _latent())["samples"]
            for seed in (5, 5, 6)]
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_callback_reports_every_step(sd_model: DiffusionModel) -> None:
    reports: list[dict[str, Any]] = []
    ksampler(sd_model, 0, 3, 6.0, "heun", "normal", POSITIVE, NEGATIVE, _latent(), callback=reports.append)
    assert [(r["i"], r["total"]) for r in reports] == [(0, 3), (1, 3), (2, 3)]
    assert all(r["denoised"].shape == (1, 4, 8, 8) for r in reports)


def test_result_copies_the_latent_dict(sd_model: DiffusionModel) -> None:
    latent = _latent(2, batch_index=[3, 4], extra="kept")
    out = ksampler(sd_model, 0, 2, 6.0, "euler", "normal", POSITIVE, NEGATIVE, latent)
    assert out["extra"] == "kept" and out["batch_index"] == [3, 4] and out["samples"] is not latent["samples"]
    assert latent["samples"].abs().sum() == 0  # the input is not modified


def test_empty_latent_takes_the_model_channel_count(sd_model: DiffusionModel) -> None:
    out = ksampler(sd_model, 0, 2, 6.0, "euler", "normal", POSITIVE, NEGATIVE, {"samples": torch.zeros(1, 16, 8, 8)})
    assert out["samples"].shape == (1, 4, 8, 8)


# -- noise ------------------------------------------------------------------------------------------


def test_prepare_noise_is_cpu_float32_from_the_seed() -> None:
    noise = prepare_noise(torch.zeros(2, 4, 8, 8, dtype=torch.float16), 42)
    assert noise.dtype == torch.float32 and noise.device.type == "cpu"
    # ComfyUI seeds the global CPU generator with the seed; a private generator gives the same numbers
    assert torch.equal(noise, torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(42)))


def test_batch_index_draws_and_discards_earlier_items() -> None:
    shape = (1, 4, 5, 7)  # 140 values: not a multiple of 16, so a batch draw is not item-by-item draws
    generator = torch.Generator().manual_seed(9)
    items = [torch.randn(shape, generator=generator) for _ in range(4)]
    noise = prepare_noise(torch.zeros(3, 4, 5, 7), 9, batch_index=[3, 1, 3])
    assert torch.equal(noise, torch.cat([items[3], items[1], items[3]]))
    with pytest.raises(ValueError, match="one non-negative index per latent"):
        prepare_noise(torch.zeros(2, 4, 5, 7), 9, batch_index=[0])


def test_an_image_taken_from_a_batch_reproduces(sd_model: DiffusionModel) -> None:
    batch = ksampler(sd_model, 8, 3, 6.0, "euler", "karras", POSITIVE, NEGATIVE, _latent(3))["samples"]
    single = ksampler(sd_model, 8, 3, 6.0, "euler", "karras", POSITIVE, NEGATIVE, _latent(1, batch_index=[2]))
    # batched and single UNet calls round differently (about 6e-5 here)
    torch.testing.assert_close(single["samples"], batch[2:3], atol=2e-4, rtol=1e-4)


# -- denoise < 1 and KSamplerAdvanced ------------------------------------------------------------------


def test_partial_denoise_runs_the_tail_of_a_longer_schedule(sd_model: DiffusionModel) -> None:
    euler = SAMPLERS["euler"]
    tail = ksampler_sigmas(MODEL_SIGMAS, "karras", euler, 4, denoise=0.5)
    torch.testing.assert_close(tail, SCHEDULERS["karras"](MODEL_SIGMAS, 8)[-5:])
    assert len(ksampler_sigmas(MODEL_SIGMAS, "karras", euler, 4, denoise=0.0)) == 0
    dpm_2 = ksampler_sigmas(MODEL_SIGMAS, "karras", SAMPLERS["dpm_2"], 4)  # 5 steps, penultimate dropped
    torch.testing.assert_close(dpm_2, SCHEDULERS["karras"](MODEL_SIGMAS, 5)[[0, 1, 2, 3, 5]])


def test_partial_denoise_changes_the_latent_less(sd_model: DiffusionModel) -> None:
    latent, reports = _latent(seed=4), []
    changes = {}
    for denoise in (1.0, 0.3):
        out = ksampler(sd_model, 1, 4, 6.0, "euler", "normal", POSITIVE, NEGATIVE, latent, denoise,
                       callback=reports.append)
        changes[denoise] = float((out["samples"] - latent["samples"]).abs().mean())
    assert len(reports) == 8 and float(reports[4]["sigma"]) < float(reports[0]["sigma"])
    assert changes[0.3] < changes[1.0] / 2
    untouched = ksampler(sd_model, 1, 4, 6.0, "euler", "normal", POSITIVE, NEGATIVE, latent, 0.0)
    assert torch.equal(untouched["samples"], latent["samples"])


def test_advanced_step_window_and_leftover_noise() -> None:
    euler = SAMPLERS["euler"]

    class Stub:  # job_sigmas only needs the model's sigmas
        sigmas = MODEL_SIGMAS

    full = SCHEDULERS["normal"](MODEL_SIGMAS, 10)
    window = job_sigmas(SamplingJob(0, 10, 1.0, "euler", "normal", start_step=2, last_step=6), Stub(), euler)
    torch.testing.assert_close(window, full[2:7])
    denoised = job_sigmas(
        SamplingJob(0, 10, 1.0, "euler", "normal", start_step=2, last_step=6, force_full_denoise=True), Stub(), euler
    )
    torch.testing.assert_close(denoised, torch.cat([full[2:6], torch.zeros(1)]))
    assert len(job_sigmas(SamplingJob(0, 10, 1.0, "euler", "normal", start_step=10), Stub(), euler)) == 0


@pytest.mark.parametrize("sampler", ["euler", "heun", "dpm_2", "ddim"])
def test_leftover_noise_hand_off_equals_one_run(sd_model: DiffusionModel, sampler: str) -> None:
    latent = _latent()
    args = (6.0, sampler, "karras", POSITIVE, NEGATIVE)
    whole = ksampler_advanced(sd_model, True, 3, 6, *args, latent, 0, 10000, False)
    first = ksampler_advanced(sd_model, "enable", 3, 6, *args, latent, 0, 3, "enable")
    second = ksampler_advanced(sd_model, "disable", 3, 6, *args, first, 3, 10000, "disable")
    torch.testing.assert_close(second["samples"], whole["samples"], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(first["samples"], whole["samples"], atol=1e-2)


def test_starting_past_the_end_returns_the_input(sd_model: DiffusionModel) -> None:
    latent = _latent(seed=2)
    out = ksampler_advanced(sd_model, True, 0, 4, 6.0, "euler", "normal", POSITIVE, NEGATIVE, latent, 4, 10000, False)
    assert torch.equal(out["samples"], latent["samples"])
    with pytest.raises(ValueError, match="add_noise must be a bool, 'enable' or 'disable'"):
        ksampler_advanced(sd_model, "yes", 0, 4, 6.0, "euler", "normal", POSITIVE, NEGATIVE, latent, 0, 4, False)


# -- inpainting, prediction types, SDXL --------------------------------------------------------------


@pytest.mark.parametrize("sampler", ["euler", "ddim", "euler_ancestral", "dpmpp_2m"])
def test_noise_mask_keeps_the_unmasked_region(sd_model: DiffusionModel, sampler: str) -> None:
    mask = torch.zeros(1, 64, 64)  # pixel resolution, resized to the 8x8 latent
    mask[:, :, :32] = 1.0
    latent = _latent(seed=5, noise_mask=mask)
    out = ksampler(sd_model, 2, 3, 6.0, sampler, "karras", POSITIVE, NEGATIVE, latent)["samples"]
    kept = prepare_noise_mask(mask, (1, 4, 8, 8)) == 0
    assert kept.sum() == 4 * 8 * 4  # the right half of the latent is kept
    torch.testing.assert_close(out[kept], latent["samples"][kept], atol=1e-5, rtol=0)
    assert not torch.allclose(out[~kept], latent["samples"][~kept], atol=1e-2)


def test_v_prediction_model(sd_model: DiffusionModel) -> None:
    v_model = DiffusionModel(sd_model.unet, prediction_type="v_prediction")
    eps = ksampler(sd_model, 0, 2, 6.0, "euler", "normal", POSITIVE, NEGATIVE, _latent())["samples"]
    v = ksampler(v_model, 0, 2, 6.0, "euler", "normal", POSITIVE, NEGATIVE, _latent())["samples"]
    assert torch.isfinite(v).all() and not torch.allclose(v, eps)


def test_sdxl_model_with_added_conditioning(sdxl_model: DiffusionModel) -> None:
    pooled = torch.randn(1, 32, generator=torch.Generator().manual_seed(3))
    positive = [[POSITIVE[0][0], {"pooled_output": pooled}]]
    negative = [[NEGATIVE[0][0], {"pooled_output": pooled * 0}]]
    out = ksampler(sdxl_model, 0, 2, 6.0, "dpmpp_2m", "karras", positive, negative, _latent(2))["samples"]
    resized = [[POSITIVE[0][0], {"pooled_output": pooled, "width": 1024, "height": 1024}]]
    other = ksampler(sdxl_model, 0, 2, 6.0, "dpmpp_2m", "karras", resized, negative, _latent(2))["samples"]
    assert torch.isfinite(out).all() and not torch.allclose(out, other)
    with pytest.raises(ValueError, match="pooled_output"):
        ksampler(sdxl_model, 0, 2, 6.0, "euler", "karras", POSITIVE, NEGATIVE, _latent())


# -- previews -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_latent_preview(family: str) -> None:
    latent = torch.zeros(2, 4, 6, 10)
    latent[0, 0] = 1.0  # channel 1 alone: its row of the factor matrix, mapped from [-1, 1] to [0, 255]
    image = latent_to_rgb_preview(latent, family)
    assert isinstance(image, Image.Image) and image.mode == "RGB" and image.size == (10, 6)
    from nodes.sampling.preview import LATENT_RGB_FACTORS

    expected = tuple(round((v + 1) * 127.5) for v in LATENT_RGB_FACTORS[family][0])
    assert image.getpixel((3, 2)) == expected


def test_latent_preview_rejects_unknown_families() -> None:
    with pytest.raises(ValueError, match="choose one of: sd1, sdxl"):
        latent_to_rgb_preview(torch.zeros(1, 4, 2, 2), "sd3")
