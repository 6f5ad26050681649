"""The denoiser adapter: exact inputs and outputs with a recording fake UNet, call counts with a real tiny one."""

from __future__ import annotations

import math

import pytest
import torch

from nodes.sampling.denoiser import Denoiser, Inpaint
from nodes.sampling.model import DiffusionModel, percent_to_sigma, sigma_to_timestep
from tests.sampling.conftest import MODEL_SIGMAS, RecordingUNet, cond

SHAPE = (2, 4, 16, 16)


def _model(prediction_type: str = "epsilon", *, sdxl: bool = False) -> DiffusionModel:
    return DiffusionModel(RecordingUNet(), prediction_type=prediction_type, is_sdxl=sdxl)  # type: ignore[arg-type]


def _x(seed: int = 0) -> torch.Tensor:
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed))


def test_unet_gets_scaled_input_and_the_interpolated_timestep() -> None:
    model = _model()
    x, sigma = _x(), 3.0
    Denoiser(model, [cond(0.5)], [cond(0.0)], 1.0, latent_shape=SHAPE)(x, sigma)
    (call,) = model.unet.calls
    torch.testing.assert_close(call["sample"], x / math.sqrt(sigma**2 + 1))
    torch.testing.assert_close(call["timestep"], sigma_to_timestep(MODEL_SIGMAS, torch.full((2,), sigma)))
    at_training_step = sigma_to_timestep(MODEL_SIGMAS, MODEL_SIGMAS[[417]])
    torch.testing.assert_close(at_training_step, torch.tensor([417.0]), atol=1e-3, rtol=0)


def test_eps_prediction_to_x0() -> None:
    x, sigma = _x(), 2.5
    out = Denoiser(_model(), [cond(0.5)], [cond(0.0)], 1.0, latent_shape=SHAPE)(x, sigma)
    torch.testing.assert_close(out, x - sigma * 0.5)


def test_v_prediction_to_x0() -> None:
    x, sigma = _x(), 2.5
    out = Denoiser(_model("v_prediction"), [cond(0.5)], [cond(0.0)], 1.0, latent_shape=SHAPE)(x, sigma)
    torch.testing.assert_close(out, x / (sigma**2 + 1) - 0.5 * sigma / math.sqrt(sigma**2 + 1))


def test_classifier_free_guidance_in_one_batched_call() -> None:
    model = _model()
    x, sigma, cfg = _x(), 1.5, 7.0
    out = Denoiser(model, [cond(0.5)], [cond(-0.25)], cfg, latent_shape=SHAPE)(x, sigma)
    torch.testing.assert_close(out, x - sigma * (-0.25 + cfg * (0.5 + 0.25)))
    assert [call["sample"].shape[0] for call in model.unet.calls] == [4]  # positive and negative together


def test_cfg_one_never_runs_the_negative_prompt() -> None:
    model = _model()
    denoiser = Denoiser(model, [cond(0.5)], [cond(-0.25)], 1.0, latent_shape=SHAPE)
    denoiser(_x(), 1.0)
    assert denoiser.model_calls == 1 and model.unet.calls[0]["sample"].shape[0] == SHAPE[0]


def test_area_entry_changes_only_its_region() -> None:
    shape = (1, 4, 32, 32)
    x, sigma = torch.randn(shape, generator=torch.Generator().manual_seed(0)), 1.0
    base = Denoiser(_model(), [cond(0.5)], [cond(0.0)], 1.0, latent_shape=shape)(x, sigma)
    model = _model()
    area = cond(1.5, area=(16, 20, 8, 4))  # h, w, y, x in latent pixels
    out = Denoiser(model, [cond(0.5), area], [cond(0.0)], 1.0, latent_shape=shape)(x, sigma)
    inside = torch.zeros(shape, dtype=torch.bool)
    inside[:, :, 8:24, 4:24] = True
    torch.testing.assert_close(out[~inside], base[~inside])
    # all four edges lie inside the latent, so each ramps 1/8, 2/8, ..., 8/8 over 8 pixels
    up, down = torch.arange(1, 9) / 8, torch.arange(8, 0, -1) / 8
    rows = torch.cat([up, down])
    cols = torch.cat([up, torch.ones(4), down])
    weights = rows[:, None] * cols[None, :]
    expected = x[:, :, 8:24, 4:24] - sigma * (0.5 + 1.5 * weights) / (1 + weights)
    torch.testing.assert_close(out[:, :, 8:24, 4:24], expected)
    assert sorted(tuple(call["sample"].shape[-2:]) for call in model.unet.calls) == [(16, 20), (32, 32)]


def test_area_on_the_border_is_not_feathered_there() -> None:
    x = _x()
    out = Denoiser(_model(), [cond(0.5), cond(1.5, area=(16, 8, 0, 8))], [cond(0.0)], 1.0, latent_shape=SHAPE)(x, 1.0)
    ramp = torch.arange(1, 9) / 8  # only the left edge (x = 8) is inside the latent
    torch.testing.assert_close(out[:, :, :, 8:], x[:, :, :, 8:] - (0.5 + 1.5 * ramp) / (1 + ramp))


def test_percentage_area_and_strength() -> None:
    x = _x()
    full = Denoiser(_model(), [cond(0.5), cond(1.5, area=(16, 16, 0, 0), strength=3.0)], [cond(0.0)], 1.0,
                    latent_shape=SHAPE)(x, 1.0)
    pct = Denoiser(_model(), [cond(0.5), cond(1.5, area=("percentage", 1.0, 1.0, 0.0, 0.0), strength=3.0)],
                   [cond(0.0)], 1.0, latent_shape=SHAPE)(x, 1.0)
    torch.testing.assert_close(full, x - (0.5 + 3.0 * 1.5) / 4.0)
    torch.testing.assert_close(pct, full)


def test_mask_entry_weights_by_mask_times_strength() -> None:
    x = _x()
    mask = torch.zeros(64, 64)  # resized bilinearly to the 16x16 latent
    mask[:, 32:] = 1.0
    out = Denoiser(_model(), [cond(0.5), cond(1.5, mask=mask, mask_strength=0.5)], [cond(0.0)], 1.0,
                   latent_shape=SHAPE)(x, 1.0)
    torch.testing.assert_close(out[..., :7], x[..., :7] - 0.5)
    torch.testing.assert_close(out[..., 9:], x[..., 9:] - (0.5 + 1.5 * 0.5) / 1.5)


def test_timestep_range_limits_an_entry_to_its_noise_levels() -> None:
    late = cond(1.5, start_percent=0.5, end_percent=1.0)  # applies only below the mid-schedule sigma
    middle = percent_to_sigma(MODEL_SIGMAS, 0.5)
    x = _x()
    denoiser = Denoiser(_model(), [cond(0.5), late], [cond(0.0)], 1.0, latent_shape=SHAPE)
    torch.testing.assert_close(denoiser(x, middle * 1.5), x - middle * 1.5 * 0.5)
    torch.testing.assert_close(denoiser(x, middle / 2), x - middle / 2 * (0.5 + 1.5) / 2)


def test_inpaint_mask_keeps_the_unmasked_latent() -> None:
    latent, noise, x = _x(1), _x(2), _x(3)
    mask = torch.zeros(SHAPE)
    mask[..., :8] = 1.0
    model = _model()
    out = Denoiser(model, [cond(0.5)], [cond(0.0)], 1.0, latent_shape=SHAPE,
                   inpaint=Inpaint(latent=latent, noise=noise, mask=mask))(x, 2.0)
    torch.testing.assert_close(out[..., 8:], latent[..., 8:])
    torch.testing.assert_close(out[..., :8], x[..., :8] - 2.0 * 0.5)
    seen = model.unet.calls[0]["sample"] * math.sqrt(2.0**2 + 1)  # outside the mask: latent re-noised to sigma
    torch.testing.assert_close(seen[..., 8:], (latent + 2.0 * noise)[..., 8:])


def test_sdxl_added_conditioning_defaults_to_the_latent_size() -> None:
    model = _model(sdxl=True)
    pooled = torch.full((1, 32), 0.25)
    out = Denoiser(model, [cond(0.5, pooled_output=pooled)], [cond(0.0, pooled_output=pooled * 0)], 1.0,
                   latent_shape=SHAPE)(_x(), 1.0)
    added = model.unet.calls[0]["added"]
    torch.testing.assert_close(added["time_ids"], torch.tensor([[128.0, 128.0, 0, 0, 128.0, 128.0]] * 2))
    torch.testing.assert_close(added["text_embeds"], pooled.expand(2, 32))
    torch.testing.assert_close(out, _x() - (0.5 + 0.25))


def test_sdxl_size_options_reach_the_time_ids() -> None:
    model = _model(sdxl=True)
    options = {"pooled_output": torch.zeros(1, 32), "width": 1024, "height": 768, "crop_w": 8, "crop_h": 16,
               "target_width": 512, "target_height": 256}
    Denoiser(model, [cond(0.5, **options)], [], 1.0, latent_shape=SHAPE)(_x(), 1.0)
    time_ids = model.unet.calls[0]["added"]["time_ids"][0]
    torch.testing.assert_close(time_ids, torch.tensor([768.0, 1024, 16, 8, 256, 512]))


def test_sdxl_without_pooled_output_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"positive\[0\].*pooled_output"):
        Denoiser(_model(sdxl=True), [cond(0.5)], [cond(0.0)], 1.0, latent_shape=SHAPE)


def test_all_conditioning_errors_are_reported_together() -> None:
    bad = [cond(0.5), ["not a tensor", {}], [torch.zeros(1, 7, 32), {"area": (4, 4, 40, 0)}]]
    with pytest.raises(ValueError, match=r"2 invalid conditioning entries: positive\[1\].*positive\[2\].*outside"):
        Denoiser(_model(), bad, [cond(0.0)], 1.0, latent_shape=SHAPE)
    with pytest.raises(ValueError, match="non-empty list"):
        Denoiser(_model(), [], [cond(0.0)], 1.0, latent_shape=SHAPE)


def test_conditioning_width_must_match_the_unet() -> None:
    with pytest.raises(ValueError, match=r"width \[768\] does not match the UNet's cross_attention_dim 32"):
        Denoiser(_model(), [[torch.zeros(1, 77, 768), {}]], [cond(0.0)], 1.0, latent_shape=SHAPE)


@pytest.mark.parametrize(("cfg", "calls", "batch"), [(1.0, 1, 1), (7.5, 1, 2)])
def test_real_unet_call_count(sd_model: DiffusionModel, cfg: float, calls: int, batch: int) -> None:
    seen: list[int] = []
    handle = sd_model.unet.register_forward_pre_hook(lambda _module, args: seen.append(args[0].shape[0]))
    try:
        Denoiser(sd_model, [cond(seed=1)], [cond(seed=2)], cfg, latent_shape=(1, 4, 8, 8))(torch.zeros(1, 4, 8, 8), 1.0)
    finally:
        handle.remove()
    assert seen == [batch] * calls


def test_prediction_type_is_validated() -> None:
    with pytest.raises(ValueError, match="prediction_type='sample' is not supported"):
        DiffusionModel(RecordingUNet(), prediction_type="sample")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="beta_schedule"):
        DiffusionModel(RecordingUNet(), scheduler_config={"beta_schedule": "cosine"})  # type: ignore[arg-type]
