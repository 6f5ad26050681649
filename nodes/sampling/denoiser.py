"""The one adapter the sampling loops see: ``denoise(x, sigma) -> x0``.

Samplers work in k-diffusion's parameterisation, ``x = x0 + sigma * eps``, and only ever ask one
question: given the noisy latent ``x`` at noise level ``sigma``, what is the clean latent? Everything
model-specific answers it here, so no loop branches on the model (the idea of k-diffusion's
``external.py``):

1. **Inpainting.** With a noise mask, the latent outside the mask is replaced, before every model
   call, by the original latent re-noised to the current sigma with the job's fixed noise, and the
   prediction outside the mask is replaced by the original latent. Only the masked area changes.
2. **Timestep and input scaling.** The UNet gets ``x * c_in`` with ``c_in = 1 / sqrt(sigma^2 + 1)``
   (the VP model's input) and the continuous timestep whose training sigma is ``sigma``
   (:func:`nodes.sampling.model.sigma_to_timestep`).
3. **Conditioning.** Every active entry of the positive list (and, unless ``cfg == 1``, of the
   negative list) predicts its region (see :mod:`nodes.sampling.conditioning`). Entries whose crops
   and embeddings have equal shapes, positive and negative alike, go through the UNet as one batch.
   Each side's predictions are summed with their weights and divided by the summed weights (ComfyUI's
   rule; a pixel no active entry covers predicts 0).
4. **Prediction type.** eps: ``x0 = x - sigma * eps``; v (Salimans & Ho 2022):
   ``x0 = x / (sigma^2 + 1) - v * sigma / sqrt(sigma^2 + 1)``.
5. **Classifier-free guidance** (Ho & Salimans 2022): ``uncond + cfg * (cond - uncond)``. At
   ``cfg == 1`` the result is ``cond`` and the negative side is never run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from nodes.sampling.conditioning import Conditioning, ResolvedCond, repeat_to_batch, resolve_conditioning
from nodes.sampling.model import DiffusionModel, sigma_to_timestep


class Denoise(Protocol):
    """What a sampler calls: the clean-latent prediction for ``x`` at noise level ``sigma``."""

    def __call__(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True, eq=False)
class Inpaint:
    """Inpainting inputs, all ``[B, C, H, W]`` on the sampling device.

    Attributes:
        latent: the original (clean) latent.
        noise: the noise that re-noises it outside the mask.
        mask: 1 where the sampler may change the latent, 0 where the original is kept.
    """

    latent: torch.Tensor
    noise: torch.Tensor
    mask: torch.Tensor


class Denoiser:
    """``denoise(x, sigma) -> x0`` for a :class:`DiffusionModel`, with guidance and conditioning.

    Args:
        model: the model handle.
        positive: ComfyUI conditioning list for the prompt.
        negative: ComfyUI conditioning list for the negative prompt (unused at ``cfg == 1``).
        cfg: classifier-free guidance scale.
        latent_shape: ``[B, C, H, W]`` of the latents it will be called with.
        inpaint: noise-mask inputs, or None.

    Raises:
        ValueError: malformed conditioning (every problem listed), or a cond whose width does not
            match the UNet's ``cross_attention_dim``.

    Attributes:
        model_calls: UNet forward passes so far.
    """

    def __init__(
        self,
        model: DiffusionModel,
        positive: Conditioning,
        negative: Conditioning,
        cfg: float,
        *,
        latent_shape: Sequence[int],
        inpaint: Inpaint | None = None,
    ) -> None:
        self.model = model
        self.cfg = float(cfg)
        self.inpaint = inpaint
        self.model_calls = 0
        common: dict[str, Any] = {
            "latent_shape": latent_shape,
            "model_sigmas": model.sigmas,
            "is_sdxl": model.is_sdxl,
        }
        self.positive = resolve_conditioning(positive, name="positive", **common)
        self.negative = [] if self.skips_negative else resolve_conditioning(negative, name="negative", **common)
        _check_context_width(model, self.positive + self.negative)

    @property
    def skips_negative(self) -> bool:
        return math.isclose(self.cfg, 1.0)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        sigmas = torch.as_tensor(sigma, dtype=torch.float32).flatten().to(x.device)
        sigmas = sigmas.expand(x.shape[0]) if sigmas.numel() == 1 else sigmas
        level = float(sigmas[0])
        if self.inpaint is not None:  # 1. keep the unmasked latent, re-noised to this level
            keep = 1.0 - self.inpaint.mask
            x = x * self.inpaint.mask + (self.inpaint.latent + self.inpaint.noise * _b(sigmas)) * keep
        sides = [self.positive] if self.skips_negative else [self.positive, self.negative]
        cond, *uncond = self._predict_sides(x, sigmas, level, sides)
        denoised = cond if not uncond else uncond[0] + self.cfg * (cond - uncond[0])  # 5. CFG
        if self.inpaint is not None:
            denoised = denoised * self.inpaint.mask + self.inpaint.latent * (1.0 - self.inpaint.mask)
        return denoised

    def _predict_sides(
        self, x: torch.Tensor, sigmas: torch.Tensor, level: float, sides: list[list[ResolvedCond]]
    ) -> list[torch.Tensor]:
        """3. Weighted average of the active entries' x0 predictions, per side, in shared UNet batches."""
        x = x.float()
        totals = [torch.zeros_like(x) for _ in sides]
        weights = [torch.full_like(x, 1e-37) for _ in sides]
        groups: dict[tuple[Any, ...], list[tuple[int, ResolvedCond]]] = {}
        for side, entries in enumerate(sides):
            for entry in entries:
                if entry.active(level):
                    groups.setdefault(entry.batch_key(), []).append((side, entry))
        batch = x.shape[0]
        for group in groups.values():
            crops = [_crop(x, entry.region) for _, entry in group]
            predictions = self._predict_x0(
                torch.cat(crops),
                sigmas.repeat(len(group)),
                torch.cat([repeat_to_batch(entry.cond, batch) for _, entry in group]),
                self._added_cond(group, batch),
            )
            for k, (side, entry) in enumerate(group):
                h, w, y, x0 = entry.region
                weight = repeat_to_batch(entry.weight, batch).to(x.device)
                totals[side][:, :, y:y + h, x0:x0 + w] += predictions[k * batch:(k + 1) * batch] * weight
                weights[side][:, :, y:y + h, x0:x0 + w] += weight
        return [total / weight for total, weight in zip(totals, weights)]

    def _added_cond(self, group: list[tuple[int, ResolvedCond]], batch: int) -> dict[str, torch.Tensor] | None:
        if not self.model.is_sdxl:
            return None
        text_embeds = [repeat_to_batch(entry.text_embeds, batch) for _, entry in group if entry.text_embeds is not None]
        time_ids = [entry.time_ids.expand(batch, -1) for _, entry in group if entry.time_ids is not None]
        return {"text_embeds": torch.cat(text_embeds), "time_ids": torch.cat(time_ids)}

    def _predict_x0(
        self,
        x: torch.Tensor,
        sigmas: torch.Tensor,
        cond: torch.Tensor,
        added: dict[str, torch.Tensor] | None,
    ) -> torch.Tensor:
        """2. + 4. One UNet call on a batch, converted to clean-latent predictions."""
        device, dtype = self.model.device, self.model.dtype
        s = _b(sigmas)
        timesteps = sigma_to_timestep(self.model.sigmas, sigmas.cpu()).to(device)
        kwargs: dict[str, Any] = {}
        if added is not None:
            kwargs["added_cond_kwargs"] = {key: value.to(device, dtype) for key, value in added.items()}
        out = self.model.unet(
            (x / (s**2 + 1).sqrt()).to(device, dtype),
            timesteps,
            encoder_hidden_states=cond.to(device, dtype),
            return_dict=False,
            **kwargs,
        )[0].to(x.device, torch.float32)
        self.model_calls += 1
        if self.model.prediction_type == "v_prediction":
            return x / (s**2 + 1) - out * s / (s**2 + 1).sqrt()
        return x - out * s


def _b(sigmas: torch.Tensor) -> torch.Tensor:
    """Per-item sigmas shaped to broadcast over ``[B, C, H, W]``."""
    return sigmas.view(-1, 1, 1, 1)


def _crop(x: torch.Tensor, region: tuple[int, int, int, int]) -> torch.Tensor:
    h, w, y, x0 = region
    return x[:, :, y:y + h, x0:x0 + w]


def _check_context_width(model: DiffusionModel, entries: list[ResolvedCond]) -> None:
    expected = getattr(getattr(model.unet, "config", None), "cross_attention_dim", None)
    if not isinstance(expected, int):
        return
    widths = sorted({int(entry.cond.shape[-1]) for entry in entries} - {expected})
    if widths:
        raise ValueError(
            f"conditioning width {widths} does not match the UNet's cross_attention_dim {expected}; "
            "encode the prompt with the text encoder that belongs to this checkpoint"
        )
