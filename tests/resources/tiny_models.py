"""Tiny random-weight SD1 / SD2 / SDXL modules for tests, and helpers that write them as model files.

Sizes follow docs/environment.md: UNet block_out_channels (32, 64), one layer per block, cross-attention
width 32 (SDXL: 64, its two 32-wide encoders concatenated); CLIP hidden 32, 2 layers, 4 heads,
intermediate 37, the real 49,408-token vocabulary; VAE with 4 blocks (32, 32, 64, 64).  SD2 is exported
as v-prediction; SDXL's UNet uses the "text_time" added embedding and two transformer layers in its
attention block, and its second encoder has a projection.

Every builder seeds torch itself, so the same call gives the same weights in every process.  Importing
this module is cheap; torch, diffusers and transformers are imported by the functions that need them.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dataclasses import dataclass
from pathlib import Path
from typing import Any

FAMILIES = ("sd1", "sd2", "sdxl")
PREDICTION = {"sd1": "epsilon", "sd2": "v_prediction", "sdxl": "epsilon"}


@dataclass(frozen=True)
class Tiny:
    """Source modules of one family and the single file exported from them."""

    family: str
    prediction_type: str
    unet: Any
    vae: Any
    text_encoders: tuple[Any, ...]
    path: Path


def tiny_clip(hidden_act: str, *, projection: bool = False, seed: int = 0) -> Any:
    """A 2-layer, 32-wide CLIP text tower (with a 32-wide projection when asked)."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        vocab_size=49408,
        max_position_embeddings=77,
        hidden_act=hidden_act,
        projection_dim=32,
    )
    torch.manual_seed(seed)
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config).eval()


def tiny_vae(scaling_factor: float, seed: int = 0) -> Any:
    """An AutoencoderKL with 4 blocks (32, 32, 64, 64): 8x downscale, 4 latent channels."""
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        block_out_channels=(32, 32, 64, 64),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1,
        latent_channels=4,
        sample_size=64,
        scaling_factor=scaling_factor,
    ).eval()


def tiny_unet(family: str, seed: int = 0) -> Any:
    """A two-level UNet2DConditionModel shaped like the family's (SDXL: text_time added embedding)."""
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    if family == "sdxl":
        return UNet2DConditionModel(
            block_out_channels=(32, 64),
            layers_per_block=1,
            sample_size=8,
            attention_head_dim=(2, 4),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 2),
            cross_attention_dim=64,
            use_linear_projection=True,
            addition_embed_type="text_time",
            addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=32 + 6 * 8,
        ).eval()
    return UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=8,
        attention_head_dim=8,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        use_linear_projection=family == "sd2",
    ).eval()


def tiny_modules(family: str) -> tuple[Any, Any, tuple[Any, ...]]:
    """(unet, vae, text_encoders) for a family, with fixed seeds."""
    if family == "sdxl":
        encoders = (tiny_clip("quick_gelu", seed=1), tiny_clip("gelu", projection=True, seed=2))
        return tiny_unet(family), tiny_vae(0.13025), encoders
    encoders = (tiny_clip("quick_gelu" if family == "sd1" else "gelu", seed=1),)
    return tiny_unet(family), tiny_vae(0.18215), encoders


def export_single_file(path: Path, family: str) -> Tiny:
    """Build the family's tiny modules and write them as one original-layout ``.safetensors``."""
    from nodes.models.export import save_checkpoint

    unet, vae, encoders = tiny_modules(family)
    written = save_checkpoint(
        path,
        unet,
        vae,
        encoders,
        family,  # type: ignore[arg-type]
        metadata={"modelspec.title": f"tiny {family}"},
        prediction_type=PREDICTION[family],  # type: ignore[arg-type]
    )
    return Tiny(family, PREDICTION[family], unet, vae, encoders, written)


def export_diffusers_folder(path: Path, tiny: Tiny) -> Path:
    """Write ``tiny``'s modules as a diffusers folder (with latentloom.json) at ``path``."""
    from nodes.models.export import save_diffusers_folder

    return save_diffusers_folder(
        path,
        tiny.unet,
        tiny.vae,
        tiny.text_encoders,
        tiny.family,  # type: ignore[arg-type]
        prediction_type=tiny.prediction_type,  # type: ignore[arg-type]
    )
