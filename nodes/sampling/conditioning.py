"""ComfyUI conditioning lists, resolved once per run into weighted regions the denoiser can batch.

ComfyUI's ``CONDITIONING`` value is a list of ``[cond, options]`` entries: ``cond`` is the text
encoder's hidden states ``[B, tokens, dim]`` and ``options`` a dict. The keys honoured here:

``pooled_output``
    The pooled output of the second text encoder; SDXL's ``text_embeds``. Required for SDXL.
``width``, ``height``, ``crop_w``, ``crop_h``, ``target_width``, ``target_height``
    SDXL's six ``time_ids`` (original size, crop top-left, target size), in pixels. Width and height
    default to the latent size times 8, crops to 0, the target size to the original size.
``area``
    ``(h, w, y, x)`` in latent pixels (ComfyUI stores pixel areas divided by 8), or
    ``("percentage", h, w, y, x)`` as fractions of the latent. The entry then sees and predicts
    only that crop of the latent. Sizes are clamped to the latent; an offset outside it is an error.
``strength``
    Multiplies the entry's weight (default 1.0).
``mask``, ``mask_strength``
    A ``[H, W]`` or ``[B, H, W]`` weight map at any resolution (resized bilinearly to the latent),
    times ``mask_strength`` (default 1.0). Without a mask, an area's inner edges (those not on the
    latent's border) are feathered over 8 latent pixels with weights 1/8, 2/8, ... 8/8.
``start_percent``, ``end_percent``
    The entry applies only while the noise level lies between the sigmas of these two points of the
    model's timestep range (ComfyUI's ``ConditioningSetTimestepRange``; see
    :func:`nodes.sampling.model.percent_to_sigma`). Defaults 0 and 1: always.

Other keys (``set_area_to_bounds``, ``control``, ...) are ignored. How the denoiser combines the
entries is described in :mod:`nodes.sampling.denoiser`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from nodes.sampling.model import percent_to_sigma

#: ComfyUI ``CONDITIONING``: a list of ``[cond_tensor, options]``.
Conditioning = Sequence[Sequence[Any]]

_FEATHER = 8  # latent pixels over which an area's inner edges ramp up


@dataclass(frozen=True, eq=False)
class ResolvedCond:
    """One conditioning entry made ready for a latent of a known shape.

    Attributes:
        cond: hidden states ``[Bc, tokens, dim]``.
        region: ``(h, w, y, x)`` crop of the latent the entry predicts, in latent pixels.
        weight: ``[Bw, 1, h, w]`` float32 weight of its prediction (strength, mask, feathering).
        sigma_high, sigma_low: it applies while ``sigma_low <= sigma <= sigma_high``.
        text_embeds: SDXL pooled text embedding ``[Bp, dim]``, else None.
        time_ids: SDXL ``[6]`` size conditioning, else None.
    """

    cond: torch.Tensor
    region: tuple[int, int, int, int]
    weight: torch.Tensor
    sigma_high: float
    sigma_low: float
    text_embeds: torch.Tensor | None
    time_ids: torch.Tensor | None

    def active(self, sigma: float) -> bool:
        return self.sigma_low <= sigma <= self.sigma_high

    def batch_key(self) -> tuple[Any, ...]:
        """Entries with equal keys can share one UNet call."""
        pooled = None if self.text_embeds is None else tuple(self.text_embeds.shape[1:])
        return (self.region[0], self.region[1], tuple(self.cond.shape[1:]), pooled)


def resolve_conditioning(
    conditioning: Conditioning,
    *,
    latent_shape: Sequence[int],
    model_sigmas: torch.Tensor,
    is_sdxl: bool,
    name: str = "conditioning",
) -> list[ResolvedCond]:
    """Validate and resolve a ComfyUI conditioning list for one latent shape.

    Args:
        conditioning: the ``[[cond, options], ...]`` list.
        latent_shape: ``[B, C, H, W]`` of the latent being sampled.
        model_sigmas: the model's training sigmas, for ``start_percent`` / ``end_percent``.
        is_sdxl: build ``text_embeds`` / ``time_ids`` (and require ``pooled_output``).
        name: what to call the list in error messages (``"positive"``, ``"negative"``).

    Returns:
        One :class:`ResolvedCond` per entry, in order.

    Raises:
        ValueError: listing every malformed entry (not a pair, cond not ``[B, tokens, dim]``, an
            area outside the latent, SDXL without ``pooled_output``) or an empty list.
    """
    if isinstance(conditioning, (str, bytes)) or not isinstance(conditioning, Sequence) or not conditioning:
        raise ValueError(f"{name} must be a non-empty list of [cond_tensor, options] entries")
    errors: list[str] = []
    resolved: list[ResolvedCond] = []
    for index, entry in enumerate(conditioning):
        try:
            resolved.append(_resolve_entry(entry, latent_shape, model_sigmas, is_sdxl))
        except ValueError as exc:
            errors.append(f"{name}[{index}]: {exc}")
    if errors:
        noun = "entry" if len(errors) == 1 else "entries"
        raise ValueError(f"{len(errors)} invalid conditioning {noun}: " + "; ".join(errors))
    return resolved


def _resolve_entry(entry: Any, latent_shape: Sequence[int], model_sigmas: torch.Tensor, is_sdxl: bool) -> ResolvedCond:
    if not isinstance(entry, Sequence) or len(entry) != 2 or not isinstance(entry[1], Mapping):
        raise ValueError("expected [cond_tensor, options_dict]")
    cond, options = entry
    if not isinstance(cond, torch.Tensor) or cond.ndim != 3:
        raise ValueError(f"cond must be a [batch, tokens, dim] tensor, got {_describe(cond)}")
    height, width = int(latent_shape[2]), int(latent_shape[3])
    region = _region(options.get("area"), height, width)
    strength = float(options.get("strength", 1.0))
    if options.get("mask") is not None:
        weight = _mask_weight(options["mask"], region, height, width) * float(options.get("mask_strength", 1.0))
    else:
        weight = _feather(region, height, width)
    text_embeds, time_ids = _sdxl_inputs(options, height, width) if is_sdxl else (None, None)
    return ResolvedCond(
        cond=cond,
        region=region,
        weight=weight * strength,
        sigma_high=percent_to_sigma(model_sigmas, float(options.get("start_percent", 0.0))),
        sigma_low=percent_to_sigma(model_sigmas, float(options.get("end_percent", 1.0))),
        text_embeds=text_embeds,
        time_ids=time_ids,
    )


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {list(value.shape)}"
    return type(value).__name__


def _region(area: Any, height: int, width: int) -> tuple[int, int, int, int]:
    """``(h, w, y, x)`` in latent pixels, sizes clamped to the latent."""
    if area is None:
        return (height, width, 0, 0)
    values = list(area)
    if values and values[0] == "percentage":
        h, w, y, x = (float(v) for v in values[1:5])
        values = [max(1, round(h * height)), max(1, round(w * width)), round(y * height), round(x * width)]
    if len(values) != 4:
        raise ValueError(f"area must be (h, w, y, x) in latent pixels, got {area!r}")
    h, w, y, x = (int(v) for v in values)
    if not (0 <= y < height and 0 <= x < width) or h < 1 or w < 1:
        raise ValueError(f"area {tuple(values)} (h, w, y, x) lies outside the {height}x{width} latent")
    return (min(h, height - y), min(w, width - x), y, x)


def _feather(region: tuple[int, int, int, int], height: int, width: int) -> torch.Tensor:
    """Weight 1 inside the area, ramping from 1/8 at an inner edge (one not on the latent's border)."""
    h, w, y, x = region
    rows = _edge_ramp(h, start_inside=y > 0, end_inside=y + h < height)
    cols = _edge_ramp(w, start_inside=x > 0, end_inside=x + w < width)
    return (rows[:, None] * cols[None, :])[None, None]


def _edge_ramp(size: int, *, start_inside: bool, end_inside: bool) -> torch.Tensor:
    ramp = torch.ones(size)
    steps = torch.arange(1, min(_FEATHER, size) + 1, dtype=torch.float32) / _FEATHER
    if start_inside:
        ramp[: len(steps)] *= steps
    if end_inside:
        ramp[size - len(steps):] *= steps.flip(0)
    return ramp


def _mask_weight(mask: Any, region: tuple[int, int, int, int], height: int, width: int) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3):
        raise ValueError(f"mask must be a [H, W] or [B, H, W] tensor, got {_describe(mask)}")
    mask = mask.float().reshape(-1, 1, *mask.shape[-2:])
    if tuple(mask.shape[-2:]) != (height, width):
        mask = F.interpolate(mask, size=(height, width), mode="bilinear", align_corners=False)
    h, w, y, x = region
    return mask[:, :, y:y + h, x:x + w]


def _sdxl_inputs(options: Mapping[str, Any], height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    pooled = options.get("pooled_output")
    if not isinstance(pooled, torch.Tensor):
        raise ValueError(
            "SDXL conditioning needs 'pooled_output' (the pooled output of the second text encoder); "
            "encode the prompt with the SDXL CLIP"
        )
    orig_h = float(options.get("height", height * 8))
    orig_w = float(options.get("width", width * 8))
    time_ids = torch.tensor(
        [
            orig_h,
            orig_w,
            float(options.get("crop_h", 0)),
            float(options.get("crop_w", 0)),
            float(options.get("target_height", orig_h)),
            float(options.get("target_width", orig_w)),
        ]
    )
    return pooled.reshape(-1, pooled.shape[-1]), time_ids


def repeat_to_batch(tensor: torch.Tensor, batch: int) -> torch.Tensor:
    """Repeat (and trim) along dim 0 to ``batch`` items: how a batch-1 prompt serves a batch of latents."""
    if tensor.shape[0] == batch:
        return tensor
    repeats = -(-batch // tensor.shape[0])
    return tensor.repeat(repeats, *([1] * (tensor.ndim - 1)))[:batch]
