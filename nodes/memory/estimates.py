"""Working memory of the heavy operations: what a node reserves on the compute device besides the weights.

Each estimate is a formula over shapes, scaled by the model's width so that the same formula holds for
real models and for the tiny test models.  The constants come from ComfyUI's measured estimates for the
SD families (``comfy/model_base.py`` ``memory_required``, ``comfy/sd.py`` ``memory_used_decode``), read as
facts: they over-estimate a little, which is the safe side.  No torch import: shapes are tuples.
"""

from __future__ import annotations

from collections.abc import Sequence

MIB = 1 << 20

#: Relative activation memory per family (ComfyUI's ``memory_usage_factor``).
FAMILY_FACTOR = {"sd1": 1.0, "sd2": 1.0, "sdxl": 0.8}


def sampling_memory(
    latent_shape: Sequence[int],
    *,
    cfg: float,
    dtype_bytes: int,
    width: int = 320,
    family: str = "sd1",
) -> int:
    """Bytes one UNet evaluation needs beyond its weights.

    ``bytes = B * h * w * dtype_bytes * 0.01 MiB * factor * width / 320`` where ``B`` is the batch times 2
    when ``cfg != 1`` (the positive and negative sides run as one batch), ``h * w`` the latent area,
    ``factor`` the family's :data:`FAMILY_FACTOR` and ``width`` the UNet's first block width (320 in SD1,
    SD2 and SDXL).  For SD1 at 512 px (64 x 64 latent, batch 1, fp16, cfg 8): 164 MiB.

    Args:
        latent_shape: ``[batch, channels, h, w]``.
        cfg: the guidance scale.
        dtype_bytes: bytes per element of the compute dtype.
        width: ``block_out_channels[0]`` of the UNet.
        family: ``sd1``, ``sd2`` or ``sdxl``.
    """
    batch, height, width_px = int(latent_shape[0]), int(latent_shape[-2]), int(latent_shape[-1])
    batch *= 1 if cfg == 1.0 else 2
    factor = FAMILY_FACTOR.get(family, 2.0) * width / 320
    return int(batch * height * width_px * dtype_bytes * 0.01 * MIB * factor)


def vae_decode_memory(latent_hw: Sequence[int], *, downscale: int, dtype_bytes: int, width: int = 128) -> int:
    """Bytes decoding one latent image needs beyond the VAE's weights (images are decoded one at a time).

    ``bytes = 17 * width * H * W * dtype_bytes`` for an output of ``H x W`` pixels
    (``H = h * downscale``), where ``width`` is the decoder's last block width (``block_out_channels[0]``,
    128 in SD VAEs: ``17 * 128 = 2176``, ComfyUI's measured 2178 bytes per pixel and dtype byte).

    Args:
        latent_hw: the latent's ``(h, w)``.
        downscale: pixels per latent pixel (8).
        dtype_bytes: bytes per element of the VAE's dtype.
        width: ``block_out_channels[0]`` of the VAE.
    """
    pixels = int(latent_hw[0]) * downscale * int(latent_hw[1]) * downscale
    return 17 * width * pixels * dtype_bytes


def vae_encode_memory(pixel_hw: Sequence[int], *, dtype_bytes: int, width: int = 128) -> int:
    """Bytes encoding one ``H x W`` image needs beyond the VAE's weights.

    ``bytes = 14 * width * H * W * dtype_bytes`` (``14 * 128 = 1792``, ComfyUI's measured 1767).
    """
    return 14 * width * int(pixel_hw[0]) * int(pixel_hw[1]) * dtype_bytes


def text_encode_memory(rows: int, *, hidden: int, layers: int, heads: int, dtype_bytes: int, tokens: int = 77) -> int:
    """Bytes one text-encoder call on ``rows`` 77-token chunks needs beyond its weights.

    ``bytes = rows * tokens * dtype_bytes * (hidden * (layers + 6) + heads * tokens)``: every layer's hidden
    state is kept (``output_hidden_states``), plus one layer's MLP (4 x hidden) and attention scores.
    """
    return rows * tokens * dtype_bytes * (hidden * (layers + 6) + heads * tokens)
