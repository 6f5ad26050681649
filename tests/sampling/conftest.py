"""Fixtures for the sampling tests: an analytic toy denoiser, a recording fake UNet and tiny real UNets."""

from __future__ import annotations

import math
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from nodes.sampling.model import SD_TRAINING_SCHEDULE, DiffusionModel, training_sigmas

MODEL_SIGMAS = training_sigmas(SD_TRAINING_SCHEDULE)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Numbers are compared bitwise or tightly: 1 vs 2 threads differ by up to 4e-5."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class GaussianToy:
    """Data ~ N(mu, sd^2) per element, so the exact denoiser and probability-flow ODE are closed form.

    ``D(x, sigma) = (sd^2 x + sigma^2 mu) / (sd^2 + sigma^2)``, and the ODE keeps
    ``(x - mu) / sqrt(sd^2 + sigma^2)`` constant. With ``sd = 0`` the data is the single point ``mu``.
    """

    def __init__(self, mu: float = 0.5, sd: float = 0.3) -> None:
        self.mu, self.sd = mu, sd
        self.sigmas_seen: list[float] = []

    def __call__(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        s = float(sigma)
        self.sigmas_seen.append(s)
        return (self.sd**2 * x + s**2 * self.mu) / (self.sd**2 + s**2)

    def start(self, noise: torch.Tensor, sigma: float) -> torch.Tensor:
        return self.mu + noise * math.sqrt(self.sd**2 + sigma**2)

    def ode_solution(self, x_start: torch.Tensor, sigma_start: float, sigma_end: float = 0.0) -> torch.Tensor:
        scale = math.sqrt(self.sd**2 + sigma_end**2) / math.sqrt(self.sd**2 + sigma_start**2)
        return self.mu + (x_start - self.mu) * scale


class RecordingUNet(torch.nn.Module):
    """A stand-in UNet whose eps prediction is the mean of each item's cond (+ text_embeds' mean for SDXL).

    It records every call, so tests can check the exact inputs the denoiser builds.
    """

    def __init__(self, cross_attention_dim: int = 32) -> None:
        super().__init__()
        self.config = SimpleNamespace(cross_attention_dim=cross_attention_dim)
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # gives the module a device and dtype
        self.calls: list[dict[str, Any]] = []

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        added_cond_kwargs: dict[str, torch.Tensor] | None = None,
        return_dict: bool = False,
    ) -> tuple[torch.Tensor]:
        self.calls.append(
            {"sample": sample.clone(), "timestep": timestep.clone(), "cond": encoder_hidden_states.clone(),
             "added": added_cond_kwargs}
        )
        value = encoder_hidden_states.mean(dim=(1, 2))
        if added_cond_kwargs is not None:
            value = value + added_cond_kwargs["text_embeds"].mean(dim=1)
        return (value.view(-1, 1, 1, 1).expand_as(sample) + 0 * self.anchor,)


def tiny_unet(*, sdxl: bool = False) -> Any:
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    extra: dict[str, Any] = {}
    if sdxl:  # text_embeds (32) + 6 time ids embedded to 8 each
        extra = {"addition_embed_type": "text_time", "addition_time_embed_dim": 8,
                 "projection_class_embeddings_input_dim": 32 + 6 * 8}
    return UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        sample_size=8,
        **extra,
    ).eval()


@pytest.fixture(scope="session")
def sd_model() -> DiffusionModel:
    return DiffusionModel(tiny_unet())


@pytest.fixture(scope="session")
def sdxl_model() -> DiffusionModel:
    return DiffusionModel(tiny_unet(sdxl=True), is_sdxl=True)


def cond(value: float = 0.0, *, seed: int | None = None, **options: Any) -> list[Any]:
    """One conditioning entry: constant ``value`` (for the fake UNet) or seeded random hidden states."""
    if seed is None:
        hidden = torch.full((1, 7, 32), value)
    else:
        hidden = torch.randn(1, 7, 32, generator=torch.Generator().manual_seed(seed))
    return [hidden, options]
