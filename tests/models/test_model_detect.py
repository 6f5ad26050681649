"""Detection from key names and shapes: real-size layouts (on ``meta``), tiny layouts, rules and errors."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from nodes.models.detect import DetectionError, Overrides, detect, summarise_keys
from nodes.models.export import architecture_overrides, ldm_state_dict

# Published architectures of SD1.5, SD2.1 (768-v) and SDXL base 1.0, as diffusers / transformers kwargs.
VAE = {
    "block_out_channels": (128, 256, 512, 512),
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "layers_per_block": 2,
    "latent_channels": 4,
}
CLIP_L = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "quick_gelu",
}
CLIP_H = {
    "hidden_size": 1024,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "hidden_act": "gelu",
}
CLIP_G = {
    "hidden_size": 1280,
    "num_hidden_layers": 32,
    "num_attention_heads": 20,
    "intermediate_size": 5120,
    "hidden_act": "gelu",
    "projection_dim": 1280,
}
REAL = {
    "sd1": ({"cross_attention_dim": 768, "attention_head_dim": 8}, [(CLIP_L, False)]),
    "sd2": (
        {
            "cross_attention_dim": 1024,
            "attention_head_dim": (5, 10, 20, 20),
            "use_linear_projection": True,
            "upcast_attention": True,
        },
        [(CLIP_H, False)],
    ),
    "sdxl": (
        {
            "block_out_channels": (320, 640, 1280),
            "attention_head_dim": (5, 10, 20),
            "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            "transformer_layers_per_block": (1, 2, 10),
            "cross_attention_dim": 2048,
            "use_linear_projection": True,
            "addition_embed_type": "text_time",
            "addition_time_embed_dim": 256,
            "projection_class_embeddings_input_dim": 2816,
        },
        [(CLIP_L, False), (CLIP_G, True)],
    ),
}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def _meta_modules(family: str) -> tuple[Any, Any, list[Any]]:
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    unet_kwargs, encoders = REAL[family]
    with init_empty_weights():
        unet = UNet2DConditionModel(**unet_kwargs)
        vae = AutoencoderKL(**VAE)
        texts = [(CLIPTextModelWithProjection if p else CLIPTextModel)(CLIPTextConfig(**c)) for c, p in encoders]
    return unet, vae, texts


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_real_size_layouts_without_metadata(family):
    """Family rules (heads of width 64 / 8 heads, groups 32, activations) reproduce the real configs."""
    unet, vae, texts = _meta_modules(family)
    state_dict = ldm_state_dict(unet, vae, texts, family)
    info = detect(state_dict)
    assert info.family == family and info.prediction_type == "epsilon"
    for key, value in info.unet_config.items():
        if key != "sample_size":
            assert _plain(value) == _plain(unet.config[key]), key
    for key, value in info.vae_config.items():
        if key not in ("sample_size", "scaling_factor"):
            assert _plain(value) == _plain(vae.config[key]), key
    for te, module in zip(info.text_encoders, texts, strict=True):
        for key, value in te.config.items():
            if key != "pad_token_id":
                assert value == getattr(module.config, key), (te.name, key)
    assert info.scaling_factor == (0.13025 if family == "sdxl" else 0.18215)
    assert [te.name for te in info.text_encoders] == {
        "sd1": ["clip_l"],
        "sd2": ["clip_h"],
        "sdxl": ["clip_l", "clip_g"],
    }[family]


def test_clip_skip_and_padding_defaults():
    sd1 = detect(ldm_state_dict(*_meta_modules("sd1"), "sd1")).text_encoders
    sdxl = detect(ldm_state_dict(*_meta_modules("sdxl"), "sdxl")).text_encoders
    assert [(t.clip_layer, t.final_layer_norm, t.pad_token_id) for t in sd1] == [(-1, True, 49407)]
    assert [(t.clip_layer, t.final_layer_norm, t.pad_token_id) for t in sdxl] == [(-2, False, 49407), (-2, False, 0)]
    assert [t.with_projection for t in sdxl] == [False, True]


def _tiny_state_dict(tiny) -> tuple[dict[str, torch.Tensor], Overrides]:
    encoders = tiny.text_encoders
    return ldm_state_dict(tiny.unet, tiny.vae, encoders, tiny.family), architecture_overrides(
        tiny.unet, tiny.vae, encoders
    )


def test_tiny_files_detect_from_their_metadata(tiny, loaded_models):
    info = loaded_models[tiny.family].info
    assert (info.family, info.prediction_type) == (tiny.family, tiny.prediction_type)
    assert info.unet_config["block_out_channels"] == (32, 64)
    assert info.vae_config["block_out_channels"] == (32, 32, 64, 64)
    assert all(
        te.config["num_attention_heads"] == 4 and te.config["intermediate_size"] == 37 for te in info.text_encoders
    )
    if tiny.family == "sdxl":
        assert info.unet_config["addition_time_embed_dim"] == 8
        assert info.unet_config["transformer_layers_per_block"] == (1, 2)
        assert info.unet_config["cross_attention_dim"] == 64


def test_heads_that_shapes_cannot_show_name_the_override(tiny_models):
    state_dict, overrides = _tiny_state_dict(tiny_models["sd2"])
    with pytest.raises(DetectionError, match=r"num_attention_heads"):
        detect(state_dict)  # 32-wide CLIP: not a multiple of 64, no metadata
    text_only = Overrides(text_encoders=overrides.text_encoders)
    with pytest.raises(DetectionError, match=r"attention_head_dim"):
        detect(state_dict, overrides=text_only)  # UNet channels (32, 64) under the SD2 64-wide-head rule
    info = detect(state_dict, overrides=overrides)
    assert info.unet_config["attention_head_dim"] == 8


def test_prediction_type_rules(tiny_models):
    state_dict, overrides = _tiny_state_dict(tiny_models["sd2"])
    assert detect(state_dict, overrides=overrides).prediction_source.startswith("sd2 weight statistic")
    assert detect(state_dict, overrides=overrides).prediction_type == "epsilon"  # LayerNorm biases are zero

    cases = [
        ({"v_pred": torch.tensor([])}, {}, "v_prediction", "v_pred key"),
        ({}, {"modelspec.predict_key": "v"}, "v_prediction", "metadata modelspec.predict_key"),
        ({}, {"modelspec.prediction_type": "epsilon"}, "epsilon", "metadata modelspec.prediction_type"),
        ({}, {"ss_v_parameterization": "True"}, "v_prediction", "metadata ss_v_parameterization"),
        (
            {},
            {"modelspec.architecture": "stable-diffusion-v2-768-v"},
            "v_prediction",
            "metadata modelspec.architecture",
        ),
    ]
    for extra_keys, metadata, expected, source in cases:
        info = detect({**state_dict, **extra_keys}, metadata, overrides=overrides)
        assert (info.prediction_type, info.prediction_source) == (expected, source)

    forced = Overrides(prediction_type="v_prediction", unet=overrides.unet, text_encoders=overrides.text_encoders)
    assert detect(state_dict, {"modelspec.predict_key": "epsilon"}, overrides=forced).prediction_type == "v_prediction"
    info = detect({**state_dict, "v_pred": torch.tensor([]), "ztsnr": torch.tensor([])}, overrides=overrides)
    assert info.zero_terminal_snr and info.scheduler_config["rescale_betas_zero_snr"]


def test_sd2_weight_statistic_above_threshold_means_v(tiny_models):
    state_dict, overrides = _tiny_state_dict(tiny_models["sd2"])
    key = "model.diffusion_model.output_blocks.3.1.transformer_blocks.0.norm1.bias"  # last output block
    assert key in state_dict
    generator = torch.Generator().manual_seed(0)
    state_dict[key] = torch.randn(state_dict[key].shape, generator=generator) * 0.2
    heads_only = Overrides(unet={"attention_head_dim": 8}, text_encoders=overrides.text_encoders)
    info = detect(state_dict, overrides=heads_only)
    assert info.prediction_type == "v_prediction"
    assert info.unet_config["sample_size"] == 96 and info.vae_config["sample_size"] == 768


def test_refusals_name_what_was_found(tiny_models):
    state_dict, overrides = _tiny_state_dict(tiny_models["sd1"])
    with pytest.raises(DetectionError, match="EDM"):
        detect({**state_dict, "edm_mean": torch.zeros(4), "edm_std": torch.ones(4)}, overrides=overrides)
    with pytest.raises(DetectionError, match="not epsilon or v"):
        detect(state_dict, {"modelspec.predict_key": "flow"}, overrides=overrides)
    flux_like = {"double_blocks.0.img_attn.norm.key_norm.scale": torch.zeros(2)} | {
        f"single_blocks.{i}.linear1.weight": torch.zeros(2) for i in range(3)
    }
    with pytest.raises(DetectionError) as caught:
        detect(flux_like)
    message = str(caught.value)
    assert "double_blocks.0. (1)" in message and "single_blocks" in message and "Supported: SD1.x" in message
    no_text = {k: v for k, v in state_dict.items() if not k.startswith("cond_stage_model.")}
    with pytest.raises(DetectionError, match=r"text encoder layouts found: none.*model\.diffusion_model\. \(\d+\)"):
        detect(no_text)
    refiner = {
        k.replace("cond_stage_model.transformer.", "conditioner.embedders.0.model."): v for k, v in state_dict.items()
    }
    refiner["conditioner.embedders.0.model.token_embedding.weight"] = torch.zeros(1, 1)
    with pytest.raises(DetectionError, match="refiner"):
        detect(refiner)


def test_overrides_are_checked():
    with pytest.raises(ValueError, match="in_channels"):
        Overrides(unet={"in_channels": 9}).check()
    with pytest.raises(ValueError, match="prediction_type"):
        Overrides(prediction_type="sample").check()  # type: ignore[arg-type]
    round_trip = Overrides.from_json(
        Overrides(unet={"attention_head_dim": (2, 4)}, text_encoders=({"clip_layer": -1},)).to_json()
    )
    assert round_trip.unet == {"attention_head_dim": (2, 4)} and round_trip.text_encoders == ({"clip_layer": -1},)


def test_summarise_keys_groups_embedders():
    text = summarise_keys(["conditioner.embedders.1.model.a", "conditioner.embedders.1.model.b", "x.y"])
    assert text == "3 keys: conditioner.embedders.1.model. (2), x.y (1)"


def test_info_is_json_serialisable(loaded_models):
    import json

    data = json.loads(json.dumps(loaded_models["sdxl"].info.to_dict()))
    assert data["family"] == "sdxl" and data["text_encoders"][1]["config"]["projection_dim"] == 32
    assert data["unet_config"]["transformer_layers_per_block"] == [1, 2]


def test_importing_the_package_and_detection_does_not_import_torch():
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, nodes.models, nodes.models.detect, nodes.models.keymap; "
        "assert not {'torch', 'diffusers', 'transformers'} & set(sys.modules), sorted(sys.modules)"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
