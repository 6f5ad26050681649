"""Reproducible initial noise and noise-mask preparation, as ComfyUI makes them.

The initial noise of a job depends only on the seed and the latent's shape: it is drawn on the CPU,
in float32, from a generator seeded with the job seed, so the same seed gives the same image on any
device. A latent cut out of a batch (``batch_index``) draws the noise of each earlier batch item and
discards it, so that item ``i`` of a batch reproduces on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def prepare_noise(latent: torch.Tensor, seed: int, batch_index: Sequence[int] | None = None) -> torch.Tensor:
    """The initial noise for ``latent`` (ComfyUI ``comfy.sample.prepare_noise``).

    Args:
        latent: the ``[B, C, H, W]`` latent (only its shape is used).
        seed: the job seed, ``0 <= seed < 2**64``.
        batch_index: for each item of ``latent``, its index in the batch it was taken from; noise is
            then drawn one ``[1, C, H, W]`` item at a time for indices ``0 .. max(batch_index)`` and
            the listed ones are kept (repeats allowed).

    Returns:
        float32 CPU noise of ``latent``'s shape.

    Raises:
        ValueError: a seed outside ``[0, 2**64)``, or a ``batch_index`` whose length differs from the batch.
    """
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    generator = torch.Generator("cpu").manual_seed(seed)
    shape = list(latent.shape)
    if batch_index is None:
        return torch.randn(shape, dtype=torch.float32, generator=generator)
    indices = [int(i) for i in batch_index]
    if len(indices) != shape[0] or min(indices) < 0:
        raise ValueError(f"batch_index {indices} must hold one non-negative index per latent ({shape[0]})")
    drawn = [torch.randn([1, *shape[1:]], dtype=torch.float32, generator=generator) for _ in range(max(indices) + 1)]
    return torch.cat([drawn[i] for i in indices])


def prepare_noise_mask(mask: torch.Tensor, latent_shape: Sequence[int]) -> torch.Tensor:
    """A latent ``noise_mask`` (``[H, W]``, ``[B, H, W]`` or ``[B, 1, H, W]`` at any resolution) as ``[B, C, H, W]``.

    The mask is resized bilinearly to the latent, repeated over channels and to the batch size.
    1 marks latent the sampler may change, 0 latent it must keep.
    """
    batch, channels, height, width = (int(v) for v in latent_shape)
    mask = mask.float().reshape(-1, 1, mask.shape[-2], mask.shape[-1])
    if tuple(mask.shape[-2:]) != (height, width):
        mask = F.interpolate(mask, size=(height, width), mode="bilinear", align_corners=False)
    mask = mask.expand(-1, channels, -1, -1)
    repeats = -(-batch // mask.shape[0])
    return mask.repeat(repeats, 1, 1, 1)[:batch].contiguous()
