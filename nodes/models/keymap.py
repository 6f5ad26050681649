"""Diffusers/transformers parameter names -> original single-file (LDM/SGM) names.

This is the inverse of diffusers' ``single_file_utils`` converters (``convert_ldm_unet_checkpoint``,
``convert_ldm_vae_checkpoint``, ``convert_ldm_clip_checkpoint``, ``convert_open_clip_checkpoint``),
written directly as renaming rules rather than derived by pushing marker tensors through the converters:
rules give a readable error for a name they do not know, and they work on ``meta`` tensors, so the
loader can compute the exact set of keys a file must contain before touching any weight.  The round-trip
tests (export with these rules, load with diffusers' converters, compare every tensor bit for bit) are
what keeps the two directions in agreement.

Value transforms (everything else is a pure rename):

* VAE mid-block attention: ``to_q`` / ``to_k`` / ``to_v`` / ``to_out.0`` are ``Linear`` in diffusers and
  1x1 ``Conv2d`` in the original, so 2-D weights gain two trailing unit dimensions.
* OpenCLIP: the separate ``q_proj`` / ``k_proj`` / ``v_proj`` are concatenated (in that order, along the
  output dimension) into ``attn.in_proj_weight`` / ``in_proj_bias``; ``text_projection.weight`` (a
  ``Linear`` weight, out x in) is stored transposed as the plain matrix ``text_projection`` (in x out).

Every function returns keys with the component's single-file prefix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nodes.models.info import UNET_PREFIX, VAE_PREFIX, TextEncoderInfo

if TYPE_CHECKING:
    import torch

_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}
_UNET_FIXED = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
_VAE_FIXED = {"conv_norm_out": "norm_out"}
_VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
_OPEN_CLIP_LAYER = {
    "self_attn.out_proj": "attn.out_proj",
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
}


def unet_key(key: str, config: Mapping[str, Any]) -> str:
    """Single-file name of one ``UNet2DConditionModel`` parameter (``model.diffusion_model.`` prefix).

    Down level ``b`` with ``L`` resblocks occupies input blocks ``1 + b(L+1) ... (b+1)(L+1)``, the last
    of which is its downsampler; up level ``b`` occupies output blocks ``b(L+1) ... b(L+1)+L``, with the
    upsampler after the attention (index 2) or, without attention, after the resblock (index 1).
    """
    layers = int(config["layers_per_block"])
    module, _, param = key.rpartition(".")
    if module in _UNET_FIXED:
        return f"{UNET_PREFIX}{_UNET_FIXED[module]}.{param}"
    if m := re.fullmatch(r"(down|up)_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)", module):
        kind, level, index, name = m[1], int(m[2]), int(m[3]), m[4]
        return f"{UNET_PREFIX}{_unet_block(kind, level, index, layers)}.0.{_RESNET[name]}.{param}"
    if m := re.fullmatch(r"(down|up)_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", key):
        return f"{UNET_PREFIX}{_unet_block(m[1], int(m[2]), int(m[3]), layers)}.1.{m[4]}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv", module):
        return f"{UNET_PREFIX}input_blocks.{(int(m[1]) + 1) * (layers + 1)}.0.op.{param}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv", module):
        level = int(m[1])
        slot = 2 if config["up_block_types"][level].startswith("CrossAttn") else 1
        return f"{UNET_PREFIX}output_blocks.{level * (layers + 1) + layers}.{slot}.conv.{param}"
    if m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(\w+)", module):
        return f"{UNET_PREFIX}middle_block.{2 * int(m[1])}.{_RESNET[m[2]]}.{param}"
    if m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", key):
        return f"{UNET_PREFIX}middle_block.1.{m[1]}"
    raise KeyError(f"UNet parameter {key!r} has no single-file name (unsupported UNet feature)")


def _unet_block(kind: str, level: int, index: int, layers: int) -> str:
    if kind == "down":
        return f"input_blocks.{1 + level * (layers + 1) + index}"
    return f"output_blocks.{level * (layers + 1) + index}"


def vae_key(key: str, config: Mapping[str, Any]) -> str:
    """Single-file name of one ``AutoencoderKL`` parameter (``first_stage_model.`` prefix)."""
    levels = len(config["up_block_types"])
    module, _, param = key.rpartition(".")
    if m := re.fullmatch(r"(encoder|decoder)\.(conv_in|conv_out|conv_norm_out)", module):
        return f"{VAE_PREFIX}{m[1]}.{_VAE_FIXED.get(m[2], m[2])}.{param}"
    if module in ("quant_conv", "post_quant_conv"):
        return f"{VAE_PREFIX}{key}"
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)", module):
        return f"{VAE_PREFIX}encoder.down.{m[1]}.block.{m[2]}.{_vae_resnet(m[3])}.{param}"
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv", module):
        return f"{VAE_PREFIX}encoder.down.{m[1]}.downsample.conv.{param}"
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)", module):
        return f"{VAE_PREFIX}decoder.up.{levels - 1 - int(m[1])}.block.{m[2]}.{_vae_resnet(m[3])}.{param}"
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv", module):
        return f"{VAE_PREFIX}decoder.up.{levels - 1 - int(m[1])}.upsample.conv.{param}"
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(\w+)", module):
        return f"{VAE_PREFIX}{m[1]}.mid.block_{int(m[2]) + 1}.{_vae_resnet(m[3])}.{param}"
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.attentions\.0\.(group_norm|to_q|to_k|to_v|to_out\.0)", module):
        return f"{VAE_PREFIX}{m[1]}.mid.attn_1.{_VAE_ATTENTION[m[2]]}.{param}"
    raise KeyError(f"VAE parameter {key!r} has no single-file name (unsupported VAE feature)")


def _vae_resnet(name: str) -> str:
    return "nin_shortcut" if name == "conv_shortcut" else name


def unet_to_ldm(state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Rename a UNet state dict to the single-file layout (no value changes)."""
    return {unet_key(k, config): v for k, v in state_dict.items()}


def vae_to_ldm(state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Rename a VAE state dict; mid-block attention ``Linear`` weights become 1x1 conv weights."""
    out = {}
    for key, value in state_dict.items():
        new = vae_key(key, config)
        if ".mid.attn_1." in new and new.endswith(".weight") and ".norm." not in new and value.ndim == 2:
            value = value[:, :, None, None]
        out[new] = value
    return out


def _with_text_model(key: str) -> str:
    """transformers 5 ``CLIPTextModel`` drops the ``text_model.`` prefix that checkpoints use; restore it."""
    return key if key.startswith("text_model.") or key == "text_projection.weight" else "text_model." + key


def clip_to_ldm(state_dict: Mapping[str, torch.Tensor], encoder: TextEncoderInfo) -> dict[str, torch.Tensor]:
    """Rename a ``CLIPTextModel(WithProjection)`` state dict to the encoder's single-file layout."""
    if encoder.layout == "openai":
        out = {}
        for key, value in state_dict.items():
            full = _with_text_model(key)
            if not full.startswith("text_model."):
                raise KeyError(f"{encoder.name}: {key!r} has no place in the OpenAI CLIP single-file layout")
            out[encoder.prefix + full] = value
        return out
    return _open_clip_to_ldm(state_dict, encoder.prefix)


def _open_clip_to_ldm(state_dict: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    import torch

    fixed = {
        "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
        "text_model.embeddings.position_embedding.weight": "positional_embedding",
        "text_model.final_layer_norm.weight": "ln_final.weight",
        "text_model.final_layer_norm.bias": "ln_final.bias",
    }
    out: dict[str, torch.Tensor] = {}
    fused: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state_dict.items():
        full = _with_text_model(key)
        if full in fixed:
            out[prefix + fixed[full]] = value
        elif full == "text_projection.weight":
            out[prefix + "text_projection"] = value.T.contiguous()
        elif m := re.fullmatch(r"text_model\.encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(weight|bias)", full):
            fused.setdefault(f"{prefix}transformer.resblocks.{m[1]}.attn.in_proj_{m[3]}", {})[m[2]] = value
        elif m := re.fullmatch(r"text_model\.encoder\.layers\.(\d+)\.(.+)\.(weight|bias)", full):
            if m[2] not in _OPEN_CLIP_LAYER:
                raise KeyError(f"OpenCLIP: {key!r} has no single-file name")
            out[f"{prefix}transformer.resblocks.{m[1]}.{_OPEN_CLIP_LAYER[m[2]]}.{m[3]}"] = value
        else:
            raise KeyError(f"OpenCLIP: {key!r} has no single-file name")
    for key, parts in fused.items():
        if set(parts) != {"q", "k", "v"}:
            raise KeyError(f"OpenCLIP: {key} needs q, k and v projections, got {sorted(parts)}")
        out[key] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    return out
