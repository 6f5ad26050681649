"""Module configs from tensor shapes: UNet, VAE and CLIP text towers of any size.

Input is ``key -> shape`` of an original-layout state dict; output is keyword arguments for
diffusers' ``UNet2DConditionModel`` / ``AutoencoderKL`` and transformers' ``CLIPTextConfig``. Facts
that shapes cannot show get the family default here and may be overridden by the caller
(:func:`nodes.models.detect.detect` merges metadata and overrides, then runs the checks below).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from nodes.models.info import (
    HEAD_WIDTH,
    SCALING_FACTORS,
    UNET_PREFIX,
    VAE_PREFIX,
    DetectionError,
    Family,
    TextEncoderInfo,
    summarise_keys,
)

# --------------------------------------------------------------------------------------------------
# Text encoders


def infer_text_encoder(shapes: Mapping[str, tuple[int, ...]], slot: TextEncoderInfo) -> TextEncoderInfo:
    """Fill ``slot.config`` (``CLIPTextConfig`` kwargs) from the tower's shapes.

    Heads default to 64-wide (``None`` when the width is not a multiple of 64: the caller must supply
    them); the activation follows the layout: ``quick_gelu`` for OpenAI CLIP, ``gelu`` for OpenCLIP.
    """
    if slot.layout == "openai":
        p = slot.prefix + "text_model."
        token, position = p + "embeddings.token_embedding.weight", p + "embeddings.position_embedding.weight"
        layer_re, fc1 = re.compile(re.escape(p) + r"encoder\.layers\.(\d+)\."), p + "encoder.layers.0.mlp.fc1.weight"
        act = "quick_gelu"
    else:
        p = slot.prefix
        token, position = p + "token_embedding.weight", p + "positional_embedding"
        layer_re, fc1 = (
            re.compile(re.escape(p) + r"transformer\.resblocks\.(\d+)\."),
            p + "transformer.resblocks.0.mlp.c_fc.weight",
        )
        act = "gelu"
    _require(shapes, (token, position, fc1), f"text encoder {slot.name}")
    vocab, hidden = shapes[token]
    layers = 1 + max(int(m.group(1)) for k in shapes if (m := layer_re.match(k)))
    config: dict[str, Any] = {
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": shapes[fc1][0],
        "num_hidden_layers": layers,
        "num_attention_heads": hidden // HEAD_WIDTH if hidden % HEAD_WIDTH == 0 else None,
        "max_position_embeddings": shapes[position][0],
        "hidden_act": act,
        "layer_norm_eps": 1e-5,
        "bos_token_id": 49406,
        "eos_token_id": 49407,
        "pad_token_id": slot.pad_token_id,
    }
    if slot.with_projection:
        _require(shapes, (p + "text_projection",), f"text encoder {slot.name}")
        config["projection_dim"] = shapes[p + "text_projection"][1]
    return dataclasses.replace(slot, config=config)


def _require(shapes: Mapping[str, Any], keys: Sequence[str], what: str) -> None:
    missing = [k for k in keys if k not in shapes]
    if missing:
        raise DetectionError(f"{what}: missing {missing}; found {summarise_keys(shapes)}")


# --------------------------------------------------------------------------------------------------
# UNet


def block_indices(shapes: Mapping[str, Any], kind: str) -> set[int]:
    """Indices ``i`` of the UNet's ``{kind}.{i}.`` blocks (``input_blocks`` / ``output_blocks``)."""
    pattern = re.compile(re.escape(UNET_PREFIX + kind) + r"\.(\d+)\.")
    return {int(m.group(1)) for k in shapes if (m := pattern.match(k))}


def _transformer_depth(shapes: Mapping[str, Any], block: str) -> int:
    """Number of ``transformer_blocks`` in the SpatialTransformer at ``block`` (0: no attention)."""
    pattern = re.compile(re.escape(UNET_PREFIX + block) + r"\.transformer_blocks\.(\d+)\.")
    indices = {int(m.group(1)) for k in shapes if (m := pattern.match(k))}
    return max(indices) + 1 if indices else 0


def _input_levels(shapes: Mapping[str, tuple[int, ...]]) -> list[list[tuple[int, int]]]:
    """Group input blocks into resolution levels: per level, (channels, transformer depth) per resblock."""
    levels: list[list[tuple[int, int]]] = [[]]
    for i in sorted(block_indices(shapes, "input_blocks") - {0}):
        block = f"{UNET_PREFIX}input_blocks.{i}.0."
        if block + "op.weight" in shapes:
            levels.append([])
        elif block + "out_layers.3.weight" in shapes:
            depth = _transformer_depth(shapes, f"input_blocks.{i}.1")
            levels[-1].append((shapes[block + "out_layers.3.weight"][0], depth))
        else:
            raise DetectionError(f"input block {i} is neither a ResBlock nor a Downsample")
    return levels


def _output_levels(shapes: Mapping[str, tuple[int, ...]], per_level: int) -> list[list[tuple[int, int]]]:
    indices = sorted(block_indices(shapes, "output_blocks"))
    if not indices or len(indices) % per_level or indices != list(range(len(indices))):
        raise DetectionError(f"output blocks {indices} do not form levels of {per_level}")
    levels = []
    for start in range(0, len(indices), per_level):
        level = []
        for i in range(start, start + per_level):
            channels = shapes[f"{UNET_PREFIX}output_blocks.{i}.0.out_layers.3.weight"][0]
            level.append((channels, _transformer_depth(shapes, f"output_blocks.{i}.1")))
        levels.append(level)
    return levels


def _uniform(level: list[tuple[int, int]], what: str) -> tuple[int, int]:
    if len(set(level)) != 1:
        raise DetectionError(f"{what} mixes channel counts or transformer depths: {level}")
    return level[0]


def infer_unet(
    shapes: Mapping[str, tuple[int, ...]], family: Family, encoders: Sequence[TextEncoderInfo], prediction: str
) -> dict[str, Any]:
    """Build ``UNet2DConditionModel`` kwargs from LDM UNet shapes."""
    conv_in = shapes[UNET_PREFIX + "input_blocks.0.0.weight"]
    levels = _input_levels(shapes)
    per_level = {len(level) for level in levels}
    if len(per_level) != 1 or 0 in per_level:
        raise DetectionError(f"resblocks per level differ ({[len(x) for x in levels]}); not supported")
    layers = per_level.pop()
    down = [_uniform(level, f"down level {i}") for i, level in enumerate(levels)]
    up = [_uniform(level, f"up level {i}") for i, level in enumerate(_output_levels(shapes, layers + 1))]
    channels = [c for c, _ in down]
    if [c for c, _ in up] != channels[::-1]:
        raise DetectionError(f"up-level channels {[c for c, _ in up]} do not mirror down-level channels {channels}")
    mid_depth = _transformer_depth(shapes, "middle_block.1")
    if mid_depth == 0:
        raise DetectionError("UNets without a middle-block transformer are not supported")
    config: dict[str, Any] = {
        "sample_size": {"sd1": 64, "sd2": 96 if prediction == "v_prediction" else 64, "sdxl": 128}[family],
        "in_channels": conv_in[1],
        "out_channels": shapes[UNET_PREFIX + "out.2.weight"][0],
        "conv_in_kernel": conv_in[2],
        "conv_out_kernel": shapes[UNET_PREFIX + "out.2.weight"][2],
        "block_out_channels": tuple(channels),
        "layers_per_block": layers,
        "down_block_types": tuple("CrossAttnDownBlock2D" if d else "DownBlock2D" for _, d in down),
        "up_block_types": tuple("CrossAttnUpBlock2D" if d else "UpBlock2D" for _, d in up),
        "mid_block_type": "UNetMidBlock2DCrossAttn",
        "attention_head_dim": _default_heads(family, channels),
        "norm_num_groups": 32,
        "upcast_attention": family == "sd2",
    }
    config.update(_transformer_layout(shapes, down, up, mid_depth))
    config.update(_time_and_added_embeddings(shapes, family, encoders, channels[0]))
    return config


def _default_heads(family: Family, channels: Sequence[int]) -> int | tuple[int, ...] | None:
    if family == "sd1":
        return 8  # LDM's SD1 config: num_heads 8 at every level
    if all(c % HEAD_WIDTH == 0 for c in channels):
        return tuple(c // HEAD_WIDTH for c in channels)
    return None


def _transformer_layout(
    shapes: Mapping[str, tuple[int, ...]], down: list[tuple[int, int]], up: list[tuple[int, int]], mid_depth: int
) -> dict[str, Any]:
    """Cross-attention width, linear projections and transformer depth per block."""
    to_k = sorted(k for k in shapes if k.startswith(UNET_PREFIX) and k.endswith(".attn2.to_k.weight"))
    proj_in = [k for k in shapes if k.startswith(UNET_PREFIX) and k.endswith(".proj_in.weight")]
    contexts = {shapes[k][1] for k in to_k}
    linear = {len(shapes[k]) == 2 for k in proj_in}
    if len(contexts) != 1 or len(linear) != 1:
        raise DetectionError(f"inconsistent cross-attention: context widths {contexts}, linear proj_in {linear}")
    depths = [d if d else 1 for _, d in down]
    if down[-1][1] not in (0, mid_depth):
        raise DetectionError(f"mid-block depth {mid_depth} differs from the last down level's {down[-1][1]}")
    depths[-1] = mid_depth  # diffusers gives the mid block the last level's depth
    reverse = [d if d else 1 for _, d in up]
    attention_levels = [i for i, (_, d) in enumerate(up) if d]
    layout: dict[str, Any] = {
        "cross_attention_dim": contexts.pop(),
        "use_linear_projection": linear.pop(),
        "transformer_layers_per_block": 1 if set(depths) == {1} else tuple(depths),
    }
    if any(reverse[i] != depths[::-1][i] for i in attention_levels):
        layout["reverse_transformer_layers_per_block"] = tuple(reverse)
    return layout


def _time_and_added_embeddings(
    shapes: Mapping[str, tuple[int, ...]], family: Family, encoders: Sequence[TextEncoderInfo], first_channels: int
) -> dict[str, Any]:
    config: dict[str, Any] = {}
    time_dim = shapes[UNET_PREFIX + "time_embed.0.weight"][0]
    if time_dim != 4 * first_channels:
        config["time_embedding_dim"] = time_dim
    label = shapes.get(UNET_PREFIX + "label_emb.0.0.weight")
    if family != "sdxl":
        if label is not None:
            raise DetectionError(f"{family} UNet with label_emb (unCLIP / class-conditioned) is not supported")
        return config
    if label is None:
        raise DetectionError("SDXL UNet without label_emb.0.0.weight (the text_time embedding)")
    pooled = encoders[-1].config["projection_dim"]
    extra, remainder = divmod(label[1] - pooled, 6)
    if remainder or extra <= 0:
        raise DetectionError(f"SDXL label_emb input {label[1]} is not pooled width {pooled} + 6 x time width")
    config.update(
        addition_embed_type="text_time",
        addition_time_embed_dim=extra,
        projection_class_embeddings_input_dim=label[1],
    )
    return config


def check_unet_heads(config: Mapping[str, Any]) -> None:
    """Raise :class:`DetectionError` unless heads and GroupNorm groups divide the UNet's channels."""
    heads = config["attention_head_dim"]
    channels = config["block_out_channels"]
    if heads is None:
        raise DetectionError(
            f"cannot infer the UNet attention heads: block channels {tuple(channels)} are not multiples of "
            f"{HEAD_WIDTH}; pass Overrides(unet={{'attention_head_dim': (heads per block, ...)}})"
        )
    per_block = (heads,) * len(channels) if isinstance(heads, int) else tuple(heads)
    if len(per_block) != len(channels):
        raise DetectionError(f"attention_head_dim {heads} does not give one head count per block {channels}")
    attention = [t.startswith("CrossAttn") for t in config["down_block_types"]]
    bad = [(c, h) for c, h, a in zip(channels, per_block, attention, strict=True) if a and c % h]
    if channels[-1] % per_block[-1]:
        bad.append((channels[-1], per_block[-1]))
    if bad:
        raise DetectionError(f"UNet channels are not divisible by their head counts: {bad}")
    check_groups("UNet", channels, config["norm_num_groups"], "unet")


def check_groups(what: str, channels: Sequence[int], groups: int, field_name: str) -> None:
    """Raise :class:`DetectionError` naming the override unless ``groups`` divides every channel count."""
    bad = [c for c in channels if c % groups]
    if bad:
        raise DetectionError(
            f"{what} channels {bad} are not divisible by {groups} GroupNorm groups; "
            f"pass Overrides({field_name}={{'norm_num_groups': N}})"
        )


# --------------------------------------------------------------------------------------------------
# VAE


def _count(shapes: Mapping[str, Any], pattern: str) -> int:
    regex = re.compile(pattern)
    indices = {int(m.group(1)) for k in shapes if (m := regex.match(k))}
    return max(indices) + 1 if indices else 0


def infer_vae(shapes: Mapping[str, tuple[int, ...]], family: Family, prediction: str) -> dict[str, Any]:
    """Build ``AutoencoderKL`` kwargs from the LDM VAE shapes."""
    v = re.escape(VAE_PREFIX)
    _require(
        shapes,
        [VAE_PREFIX + k for k in ("encoder.conv_in.weight", "encoder.conv_out.weight", "decoder.conv_out.weight")],
        "VAE",
    )
    levels = _count(shapes, v + r"encoder\.down\.(\d+)\.")
    layers = _count(shapes, v + r"encoder\.down\.0\.block\.(\d+)\.")
    decoder_layers = _count(shapes, v + r"decoder\.up\.0\.block\.(\d+)\.")
    if levels == 0 or _count(shapes, v + r"decoder\.up\.(\d+)\.") != levels or decoder_layers != layers + 1:
        raise DetectionError(f"VAE encoder/decoder structure does not match ({levels} levels, {layers} layers)")
    channels = tuple(shapes[f"{VAE_PREFIX}encoder.down.{i}.block.0.conv1.weight"][0] for i in range(levels))
    latent = shapes[VAE_PREFIX + "encoder.conv_out.weight"][0] // 2
    scale = SCALING_FACTORS[family]
    return {
        "in_channels": shapes[VAE_PREFIX + "encoder.conv_in.weight"][1],
        "out_channels": shapes[VAE_PREFIX + "decoder.conv_out.weight"][0],
        "down_block_types": ("DownEncoderBlock2D",) * levels,
        "up_block_types": ("UpDecoderBlock2D",) * levels,
        "block_out_channels": channels,
        "layers_per_block": layers,
        "latent_channels": latent,
        "norm_num_groups": 32,
        "sample_size": {"sd1": 512, "sd2": 768 if prediction == "v_prediction" else 512, "sdxl": 1024}[family],
        "scaling_factor": scale,
        "force_upcast": True,
        "use_quant_conv": VAE_PREFIX + "quant_conv.weight" in shapes,
        "use_post_quant_conv": VAE_PREFIX + "post_quant_conv.weight" in shapes,
        "mid_block_add_attention": VAE_PREFIX + "encoder.mid.attn_1.q.weight" in shapes,
    }
