"""Detect a Stable Diffusion family from an original-layout ("single file") state dict.

Policy
------
A single-file checkpoint is the LDM/SGM training layout: the UNet under ``model.diffusion_model.``,
the VAE under ``first_stage_model.`` and the text encoder(s) under a family-specific prefix:

=======  ===============================================  ======================================
family   text encoders (prefix, layout)                    UNet
=======  ===============================================  ======================================
``sd1``  ``cond_stage_model.transformer.`` OpenAI CLIP-L   no ``label_emb``
``sd2``  ``cond_stage_model.model.`` OpenCLIP (ViT-H)      no ``label_emb``
``sdxl`` ``conditioner.embedders.0.transformer.`` CLIP-L   ``label_emb`` ("text_time" embedding)
         + ``conditioner.embedders.1.model.`` OpenCLIP
         bigG with projection
=======  ===============================================  ======================================

The family comes from *which prefixes exist*, never from sizes, and every size comes from tensor
shapes: channels, blocks, layers per block, transformer depth per block, context width, text hidden
size, layers, intermediate size, vocabulary, positions, VAE channels and latent channels.  That is why
tiny random-weight test models load through the same path as real ones.

A few facts are not visible in shapes.  They are resolved in this order (later wins):

1. family defaults: attention heads (SD1: 8 per UNet block; SD2/SDXL: 64-wide heads; CLIP: 64-wide
   heads), GroupNorm groups (32), CLIP activation (``quick_gelu`` for OpenAI CLIP, ``gelu`` for OpenCLIP);
2. the file's ``latentloom.architecture`` metadata (JSON written by :mod:`nodes.models.export`);
3. the caller's :class:`Overrides`.

A head count that the family rule cannot produce (channels that are not a multiple of 64, as in tiny
test models) is an error that names the override to pass.

Prediction type (epsilon or v), first match wins:

1. ``Overrides.prediction_type``;
2. marker keys: ``v_pred`` (ComfyUI's CheckpointSave writes it, with ``ztsnr`` for zero terminal SNR)
   means v-prediction; ``edm_mean`` / ``edm_vpred.sigma_max`` (EDM models such as Playground 2.5) are
   refused, since this loader has no EDM schedule;
3. metadata: ``modelspec.predict_key`` (ComfyUI), ``modelspec.prediction_type`` (kohya sd-scripts;
   also filled from ``latentloom.architecture``), ``ss_v_parameterization``, or a
   ``modelspec.architecture`` ending in ``-v``;
4. SD2 with 4 input channels only: ComfyUI's weight statistic -- the standard deviation of
   ``norm1.bias`` in the first transformer block of the last output block above 0.09 means v
   (768-px SD2.x models are v-prediction; 512-px "base" and inpainting models are epsilon);
5. otherwise epsilon (every SD1 and SDXL base release).

Why a weight statistic and not "SD2 with a 1024-wide context is v": the 512-px epsilon and 768-px
v-prediction SD2.x releases have identical shapes, so shapes alone cannot separate them; the statistic
is what ComfyUI uses, so both engines agree on the same file.  ``prediction_source`` always says which
rule decided, so a caller can see when nothing in the file did (and pass an override).

Other defaults: SD2 UNets get ``upcast_attention=True`` (its attention overflows in fp16; no effect in
fp32), VAE scaling is 0.18215 (SD1, SD2) or 0.13025 (SDXL), and each text encoder carries the layer the
family conditions on (``TextEncoderInfo.clip_layer``: SD1 -1; SD2 -2 with the final LayerNorm, as
OpenCLIP's "penultimate"; SDXL -2 for both towers without it) and its padding id.

This module imports no torch, diffusers or transformers at import time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from nodes.models.infer import (
    block_indices,
    check_groups,
    check_unet_heads,
    infer_text_encoder,
    infer_unet,
    infer_vae,
)
from nodes.models.info import (
    ARCHITECTURE_METADATA_KEY,
    FAMILY_ENCODERS,
    HEAD_WIDTH,
    SUPPORTED,
    TEXT_CONFIG_FREE_KEYS,
    TEXT_INFO_FREE_KEYS,
    UNET_PREFIX,
    DetectionError,
    Family,
    HasShape,
    ModelInfo,
    Overrides,
    PredictionType,
    TextEncoderInfo,
    summarise_keys,
)

__all__ = [
    "DetectionError",
    "Family",
    "ModelInfo",
    "Overrides",
    "PredictionType",
    "TextEncoderInfo",
    "detect",
    "detect_family",
    "summarise_keys",
]

# --------------------------------------------------------------------------------------------------
# Entry point


def detect(
    state_dict: Mapping[str, HasShape],
    metadata: Mapping[str, str] | None = None,
    *,
    overrides: Overrides | None = None,
) -> ModelInfo:
    """Infer family, prediction type and module configs from an original-layout state dict.

    Args:
        state_dict: key -> tensor (or any object with ``.shape``). Values are only read for the SD2
            prediction statistic, and only when they are ``torch.Tensor``.
        metadata: the safetensors header metadata, if any.
        overrides: facts to force (see :class:`Overrides`); they win over the file's metadata.

    Returns:
        The :class:`ModelInfo`.

    Raises:
        DetectionError: the layout is not a supported family, or its shapes are inconsistent, or a
            fact cannot be inferred (the message names the override to pass).
    """
    metadata = dict(metadata or {})
    overrides = overrides or Overrides()
    overrides.check()
    shapes = {k: tuple(int(d) for d in v.shape) for k, v in state_dict.items()}
    family = detect_family(shapes)
    file_overrides = _metadata_overrides(metadata)
    merged = _merge_overrides(file_overrides, overrides)

    encoders = tuple(infer_text_encoder(shapes, slot) for slot in FAMILY_ENCODERS[family])
    encoders = tuple(_apply_text_overrides(te, merged, i) for i, te in enumerate(encoders))
    if file_overrides.prediction_type is not None:  # a prediction type in our own metadata JSON
        metadata.setdefault("modelspec.prediction_type", file_overrides.prediction_type)
    prediction_type, source = _prediction_type(family, state_dict, shapes, metadata, overrides.prediction_type)

    unet_config = infer_unet(shapes, family, encoders, prediction_type)
    unet_config.update(merged.unet)
    check_unet_heads(unet_config)
    vae_config = infer_vae(shapes, family, prediction_type)
    vae_config.update(merged.vae)
    check_groups("VAE", vae_config["block_out_channels"], vae_config["norm_num_groups"], "vae")
    return ModelInfo(
        family=family,
        prediction_type=prediction_type,
        prediction_source=source,
        zero_terminal_snr="ztsnr" in shapes,
        unet_config=unet_config,
        vae_config=vae_config,
        text_encoders=encoders,
        scaling_factor=float(vae_config["scaling_factor"]),
        latent_channels=int(vae_config["latent_channels"]),
    )


def detect_family(shapes: Mapping[str, tuple[int, ...]]) -> Family:
    """Name the family from which component prefixes exist (see the module docstring table)."""
    has = shapes.__contains__
    if not has(UNET_PREFIX + "input_blocks.0.0.weight"):
        raise DetectionError(_unrecognised(shapes, "no UNet input block model.diffusion_model.input_blocks.0.0.weight"))
    sd1 = has("cond_stage_model.transformer.text_model.embeddings.token_embedding.weight")
    sd2 = has("cond_stage_model.model.token_embedding.weight")
    xl_l = has("conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight")
    xl_g = has("conditioner.embedders.1.model.token_embedding.weight")
    if has("conditioner.embedders.0.model.token_embedding.weight") and not xl_l:
        raise DetectionError(_unrecognised(shapes, "this looks like an SDXL refiner (OpenCLIP only), not supported"))
    found = [name for name, present in (("sd1", sd1), ("sd2", sd2), ("sdxl", xl_l and xl_g)) if present]
    if len(found) != 1 or (xl_l != xl_g):
        raise DetectionError(_unrecognised(shapes, f"text encoder layouts found: {found or 'none'}"))
    return found[0]  # type: ignore[return-value]


def _unrecognised(shapes: Mapping[str, Any], reason: str) -> str:
    return f"unrecognised checkpoint ({reason}); found {summarise_keys(shapes)}. Supported: {SUPPORTED}."


# --------------------------------------------------------------------------------------------------
# Overrides and metadata


def _metadata_overrides(metadata: Mapping[str, str]) -> Overrides:
    text = metadata.get(ARCHITECTURE_METADATA_KEY)
    if text is None:
        return Overrides()
    try:
        parsed = Overrides.from_json(text)
        parsed.check()
        return parsed
    except (ValueError, TypeError) as exc:
        raise DetectionError(f"metadata {ARCHITECTURE_METADATA_KEY} is invalid: {exc}") from exc


def _merge_overrides(base: Overrides, top: Overrides) -> Overrides:
    count = max(len(base.text_encoders), len(top.text_encoders))
    pad: tuple[Mapping[str, Any], ...] = ({},) * count
    encoders = tuple(
        {**a, **b} for a, b in zip((base.text_encoders + pad)[:count], (top.text_encoders + pad)[:count], strict=True)
    )
    return Overrides(
        prediction_type=top.prediction_type or base.prediction_type,
        unet={**base.unet, **top.unet},
        vae={**base.vae, **top.vae},
        text_encoders=encoders,
    )


def _apply_text_overrides(te: TextEncoderInfo, overrides: Overrides, index: int) -> TextEncoderInfo:
    values = overrides.text_encoders[index] if index < len(overrides.text_encoders) else {}
    config = {**te.config, **{k: v for k, v in values.items() if k in TEXT_CONFIG_FREE_KEYS}}
    info = {k: v for k, v in values.items() if k in TEXT_INFO_FREE_KEYS}
    if config.get("num_attention_heads") is None:
        raise DetectionError(
            f"cannot infer the attention heads of text encoder {te.name} (hidden size {config['hidden_size']} "
            f"is not a multiple of {HEAD_WIDTH}); pass Overrides(text_encoders=({{'num_attention_heads': N}}, ...))"
        )
    if config["hidden_size"] % config["num_attention_heads"]:
        raise DetectionError(
            f"text encoder {te.name}: hidden size {config['hidden_size']} is not divisible by "
            f"{config['num_attention_heads']} heads"
        )
    return dataclasses.replace(te, config=config, **info)


# --------------------------------------------------------------------------------------------------
# Prediction type

_METADATA_PREDICTION = {
    "epsilon": "epsilon",
    "eps": "epsilon",
    "v": "v_prediction",
    "v_prediction": "v_prediction",
    "v-prediction": "v_prediction",
}


def _prediction_type(
    family: Family,
    state_dict: Mapping[str, Any],
    shapes: Mapping[str, tuple[int, ...]],
    metadata: Mapping[str, str],
    forced: PredictionType | None,
) -> tuple[PredictionType, str]:
    if forced is not None:
        return forced, "override"
    if "edm_mean" in shapes or "edm_vpred.sigma_max" in shapes:
        raise DetectionError("EDM checkpoints (edm_mean / edm_vpred.sigma_max keys) are not supported")
    if "v_pred" in shapes:
        return "v_prediction", "v_pred key"
    for key in ("modelspec.predict_key", "modelspec.prediction_type"):
        if key in metadata:
            value = metadata[key].strip().lower()
            if value not in _METADATA_PREDICTION:
                raise DetectionError(
                    f"metadata {key}={metadata[key]!r} is not epsilon or v; pass Overrides(prediction_type=...)"
                )
            return _METADATA_PREDICTION[value], f"metadata {key}"  # type: ignore[return-value]
    if metadata.get("ss_v_parameterization", "").strip().lower() in ("true", "false"):
        v = metadata["ss_v_parameterization"].strip().lower() == "true"
        return ("v_prediction" if v else "epsilon"), "metadata ss_v_parameterization"
    if metadata.get("modelspec.architecture", "").endswith("-v"):
        return "v_prediction", "metadata modelspec.architecture"
    if family == "sd2":
        return _sd2_weight_statistic(state_dict, shapes)
    return "epsilon", f"{family} default"


def _sd2_weight_statistic(
    state_dict: Mapping[str, Any], shapes: Mapping[str, tuple[int, ...]]
) -> tuple[PredictionType, str]:
    """ComfyUI's SD2 rule: std of the last output block's first ``norm1.bias`` > 0.09 means v."""
    if shapes[UNET_PREFIX + "input_blocks.0.0.weight"][1] != 4:
        return "epsilon", "sd2 default (inpainting / non-4-channel SD2 models are epsilon)"
    last = max(block_indices(shapes, "output_blocks"), default=None)
    key = f"{UNET_PREFIX}output_blocks.{last}.1.transformer_blocks.0.norm1.bias"
    value = state_dict.get(key)
    import torch

    if not isinstance(value, torch.Tensor) or value.is_meta or value.numel() < 2:
        return "epsilon", "sd2 default (no weight statistic available)"
    std = float(torch.std(value.detach().float(), correction=0))
    return ("v_prediction" if std > 0.09 else "epsilon"), f"sd2 weight statistic (std {std:.4f}, threshold 0.09)"
