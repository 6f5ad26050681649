"""Tiny random-weight SD1 / SD2 / SDXL models, built once per session and exported as single files.

Sizes follow docs/environment.md: UNet block_out_channels (32, 64), one layer per block, cross-attention
width 32 (SDXL: 64, its two 32-wide encoders concatenated); CLIP hidden 32, 2 layers, 4 heads,
intermediate 37, the real 49,408-token vocabulary; VAE with 4 blocks (32, 32, 64, 64).  SD2 is exported
as v-prediction; SDXL's UNet uses the "text_time" added embedding and two transformer layers in its
attention block, and its second encoder has a projection.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

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


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny_models")


@pytest.fixture(scope="session")
def tiny_models(tiny_dir: Path) -> dict[str, Tiny]:
    """All three families, exported with :func:`nodes.models.export.save_checkpoint`."""
    from nodes.models.export import save_checkpoint

    out = {}
    for family in FAMILIES:
        unet, vae, encoders = tiny_modules(family)
        path = save_checkpoint(
            tiny_dir / f"{family}.safetensors",
            unet,
            vae,
            encoders,
            family,
            metadata={"modelspec.title": f"tiny {family}"},
            prediction_type=PREDICTION[family],
        )
        out[family] = Tiny(family, PREDICTION[family], unet, vae, encoders, path)
    return out


@pytest.fixture(scope="session", params=FAMILIES)
def tiny(request: pytest.FixtureRequest, tiny_models: dict[str, Tiny]) -> Tiny:
    return tiny_models[request.param]


@pytest.fixture(scope="session")
def loaded_models(tiny_models: dict[str, Tiny]) -> dict[str, Any]:
    from nodes.models.checkpoint import load_checkpoint

    return {family: load_checkpoint(t.path) for family, t in tiny_models.items()}


@pytest.fixture(scope="session")
def assert_same_modules() -> Callable[[Any, Any], None]:
    """Assert two modules have the same parameter names and bit-identical tensors (and dtypes)."""

    def check(expected: Any, actual: Any) -> None:
        a, b = expected.state_dict(), actual.state_dict()
        assert sorted(a) == sorted(b)
        different = [k for k in a if a[k].dtype != b[k].dtype or not torch.equal(a[k], b[k])]
        assert not different, f"{len(different)} tensors differ, e.g. {different[:5]}"

    return check
