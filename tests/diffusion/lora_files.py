"""LoRA files written for the tests: small random factors on known modules, in kohya and diffusers layouts.

Each builder returns the file's tensors and the expected patches: for every target parameter
``(part, key) -> (up, down, alpha)`` where ``part`` is ``"unet"`` or the text-encoder index.
"""

from __future__ import annotations

from typing import Any

import torch

Targets = dict[tuple[Any, str], tuple[torch.Tensor, torch.Tensor, float | None]]


def _factors(out: int, inp: int, rank: int, kernel: tuple[int, ...], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    down = torch.randn(rank, inp, *kernel, generator=g) * 0.2
    up = torch.randn(out, rank, *((1,) * len(kernel)), generator=g) * 0.2
    return up, down


# (lora module name, target part, parameter key, out, in, kernel, alpha)
_KOHYA_SD1 = [
    ("lora_unet_input_blocks_1_1_transformer_blocks_0_attn1_to_q", "unet", "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight", 32, 32, (), 2.0),
    ("lora_unet_input_blocks_1_1_proj_in", "unet", "down_blocks.0.attentions.0.proj_in.weight", 32, 32, (1, 1), 2.0),
    ("lora_unet_input_blocks_1_0_in_layers_2", "unet", "down_blocks.0.resnets.0.conv1.weight", 32, 32, (3, 3), 1.0),
    ("lora_unet_up_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k", "unet", "up_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight", 32, 32, (), None),
    ("lora_te_text_model_encoder_layers_0_self_attn_q_proj", 0, "encoder.layers.0.self_attn.q_proj.weight", 32, 32, (), 2.0),
    ("lora_te_text_model_encoder_layers_1_mlp_fc1", 0, "encoder.layers.1.mlp.fc1.weight", 37, 32, (), 4.0),
]

_DIFFUSERS_SDXL = [
    ("unet.down_blocks.1.attentions.0.transformer_blocks.1.attn2.to_v", "lora_A", "unet", "down_blocks.1.attentions.0.transformer_blocks.1.attn2.to_v.weight", 64, 64, (), None),
    ("unet.down_blocks.1.attentions.0.proj_in", "lora.down", "unet", "down_blocks.1.attentions.0.proj_in.weight", 64, 64, (1, 1), 8.0),
    ("text_encoder.text_model.encoder.layers.0.self_attn.k_proj", "lora_A", 0, "encoder.layers.0.self_attn.k_proj.weight", 32, 32, (), None),
    ("text_encoder_2.text_model.encoder.layers.1.self_attn.out_proj", "lora_linear_layer.down", 1, "text_model.encoder.layers.1.self_attn.out_proj.weight", 32, 32, (), 2.0),
]
_UP = {"lora_A": "lora_B", "lora.down": "lora.up", "lora_linear_layer.down": "lora_linear_layer.up"}


def kohya_sd1(rank: int = 4) -> tuple[dict[str, torch.Tensor], Targets]:
    tensors: dict[str, torch.Tensor] = {}
    targets: Targets = {}
    for seed, (name, part, key, out, inp, kernel, alpha) in enumerate(_KOHYA_SD1):
        up, down = _factors(out, inp, rank, kernel, seed)
        tensors[f"{name}.lora_up.weight"], tensors[f"{name}.lora_down.weight"] = up, down
        if alpha is not None:
            tensors[f"{name}.alpha"] = torch.tensor(alpha)
        targets[(part, key)] = (up, down, alpha)
    return tensors, targets


def diffusers_sdxl(rank: int = 4) -> tuple[dict[str, torch.Tensor], Targets]:
    tensors: dict[str, torch.Tensor] = {}
    targets: Targets = {}
    for seed, (name, down_name, part, key, out, inp, kernel, alpha) in enumerate(_DIFFUSERS_SDXL, start=10):
        up, down = _factors(out, inp, rank, kernel, seed)
        tensors[f"{name}.{_UP[down_name]}.weight"], tensors[f"{name}.{down_name}.weight"] = up, down
        if alpha is not None:
            tensors[f"{name}.alpha"] = torch.tensor(alpha)
        targets[(part, key)] = (up, down, alpha)
    return tensors, targets


def expected_weight(base: torch.Tensor, up: torch.Tensor, down: torch.Tensor, alpha: float | None, strength: float) -> torch.Tensor:
    """``W + strength * (alpha / rank) * (up @ down)``, computed in float32 and cast back."""
    rank = down.shape[0]
    scale = strength * (1.0 if alpha is None else alpha / rank)
    delta = (up.flatten(1).float() @ down.flatten(1).float()).reshape(base.shape) * scale
    return (base.float() + delta).to(base.dtype)
