"""Write checkpoints: one original-layout ``.safetensors`` (ComfyUI's CheckpointSave), or a diffusers folder.

The single file uses the LDM/SGM key layout that every UI loads (``model.diffusion_model.``,
``first_stage_model.``, and the family's text-encoder prefixes); the renaming rules live in
:mod:`nodes.models.keymap` (written directly as the inverse of diffusers' converters; the round-trip
tests hold the two in agreement).  Besides the tensors the file records, like ComfyUI's CheckpointSave:

* ``modelspec.predict_key`` (``epsilon`` / ``v``), ``modelspec.architecture``, ``modelspec.sai_model_spec``;
* a ``v_pred`` marker key (empty tensor) for v-prediction models;

and, for facts that shapes cannot show (attention heads, GroupNorm groups, CLIP activation ...), the
JSON ``latentloom.architecture`` that :func:`nodes.models.detect.detect` reads back.  Other tools ignore it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from nodes.models.checkpoint import FOLDER_SIDECAR
from nodes.models.info import (
    ARCHITECTURE_METADATA_KEY,
    FAMILY_ENCODERS,
    TEXT_CONFIG_FREE_KEYS,
    UNET_FREE_KEYS,
    VAE_FREE_KEYS,
    Family,
    Overrides,
    PredictionType,
    TextEncoderInfo,
)
from nodes.models.keymap import clip_to_ldm, unet_to_ldm, vae_to_ldm

if TYPE_CHECKING:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    TextEncoder = CLIPTextModel | CLIPTextModelWithProjection

ARCHITECTURES: dict[tuple[Family, PredictionType], str] = {
    ("sd1", "epsilon"): "stable-diffusion-v1",
    ("sd1", "v_prediction"): "stable-diffusion-v1",
    ("sd2", "epsilon"): "stable-diffusion-v2-512",
    ("sd2", "v_prediction"): "stable-diffusion-v2-768-v",
    ("sdxl", "epsilon"): "stable-diffusion-xl-v1-base",
    ("sdxl", "v_prediction"): "stable-diffusion-xl-v1-base",
}


def ldm_state_dict(
    unet: UNet2DConditionModel,
    vae: AutoencoderKL,
    text_encoders: Sequence[TextEncoder],
    family: Family,
) -> dict[str, torch.Tensor]:
    """All module tensors renamed to the family's single-file layout (no copies, no casts).

    Raises:
        ValueError: wrong number of text encoders for ``family``, or a projection where one is needed.
        KeyError: a parameter that the single-file layout cannot name.
    """
    slots = _family_slots(family, text_encoders)
    tensors = unet_to_ldm(unet.state_dict(), unet.config)
    tensors.update(vae_to_ldm(vae.state_dict(), vae.config))
    for slot, module in zip(slots, text_encoders, strict=True):
        tensors.update(clip_to_ldm(module.state_dict(), slot))
    return tensors


def _family_slots(family: Family, text_encoders: Sequence[TextEncoder]) -> tuple[TextEncoderInfo, ...]:
    """The family's encoder slots, after checking that ``text_encoders`` fit them."""
    slots = FAMILY_ENCODERS.get(family)
    if slots is None:
        raise ValueError(f"family must be one of {sorted(FAMILY_ENCODERS)}, not {family!r}")
    if len(text_encoders) != len(slots):
        names = [s.name for s in slots]
        raise ValueError(f"{family} needs {len(slots)} text encoder(s) {names}, got {len(text_encoders)}")
    for slot, module in zip(slots, text_encoders, strict=True):
        if slot.with_projection and not hasattr(module, "text_projection"):
            raise ValueError(f"{family} text encoder {slot.name} needs a projection (CLIPTextModelWithProjection)")
    return slots


def architecture_overrides(
    unet: UNet2DConditionModel, vae: AutoencoderKL, text_encoders: Sequence[TextEncoder]
) -> Overrides:
    """The facts of these modules that detection cannot read from shapes."""
    return Overrides(
        unet={k: _plain(unet.config[k]) for k in sorted(UNET_FREE_KEYS) if k in unet.config},
        vae={k: _plain(vae.config[k]) for k in sorted(VAE_FREE_KEYS) if k in vae.config},
        text_encoders=tuple({k: getattr(te.config, k) for k in sorted(TEXT_CONFIG_FREE_KEYS)} for te in text_encoders),
    )


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def save_checkpoint(
    path: str | Path,
    unet: UNet2DConditionModel,
    vae: AutoencoderKL,
    text_encoders: Sequence[TextEncoder],
    family: Family,
    metadata: Mapping[str, str] | None = None,
    *,
    prediction_type: PredictionType = "epsilon",
    dtype: torch.dtype | None = None,
) -> Path:
    """Write one ``.safetensors`` in the original single-file layout.

    Args:
        path: output file.
        unet, vae: diffusers modules.
        text_encoders: in family order: SD1 ``(clip_l,)``, SD2 ``(clip_h,)``, SDXL ``(clip_l, clip_g)``
            with ``clip_g`` a ``CLIPTextModelWithProjection``.
        family: ``sd1``, ``sd2`` or ``sdxl``.
        metadata: extra string metadata (the keys written here take precedence).
        prediction_type: recorded as ``modelspec.predict_key`` and, for v, as a ``v_pred`` key.
        dtype: cast floating-point tensors (``torch.float16`` for a half-size file); ``None`` keeps them.

    Returns:
        The path written.

    Raises:
        ValueError: bad family, encoder count, prediction type or non-string metadata.
    """
    from safetensors.torch import save_file

    if prediction_type not in ("epsilon", "v_prediction"):
        raise ValueError(f"prediction_type must be 'epsilon' or 'v_prediction', not {prediction_type!r}")
    tensors = ldm_state_dict(unet, vae, text_encoders, family)
    if prediction_type == "v_prediction":
        tensors["v_pred"] = torch.tensor([])
    tensors = _prepare_for_safetensors(tensors, dtype)
    header = dict(metadata or {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in header.items()):
        raise ValueError("safetensors metadata keys and values must be strings")
    header.update(
        {
            "modelspec.sai_model_spec": "1.0.0",
            "modelspec.architecture": ARCHITECTURES[(family, prediction_type)],
            "modelspec.predict_key": "v" if prediction_type == "v_prediction" else "epsilon",
            ARCHITECTURE_METADATA_KEY: architecture_overrides(unet, vae, text_encoders).to_json(),
        }
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=header)
    return path


def _prepare_for_safetensors(tensors: Mapping[str, torch.Tensor], dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    """Detach, move to CPU, cast, make contiguous, and copy tensors that share storage with another."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, value in tensors.items():
        value = value.detach().to("cpu")
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        value = value.contiguous()
        storage = value.untyped_storage()
        if storage.nbytes():
            if storage.data_ptr() in seen:
                value = value.clone()
            seen.add(value.untyped_storage().data_ptr())
        out[key] = value
    return out


def save_diffusers_folder(
    path: str | Path,
    unet: UNet2DConditionModel,
    vae: AutoencoderKL,
    text_encoders: Sequence[TextEncoder],
    family: Family,
    *,
    prediction_type: PredictionType = "epsilon",
    clip_layers: Sequence[int] | None = None,
) -> Path:
    """Write a diffusers folder (``model_index.json``, ``unet/``, ``vae/``, ``text_encoder*/``,
    ``tokenizer*/``, ``scheduler/``) plus ``latentloom.json`` with the prediction type and the
    conditioning layer of each encoder (default: the family's single-file convention, e.g. -2 for
    SD2's full OpenCLIP tower), which :func:`nodes.models.checkpoint.load_diffusers_folder` reads back.

    Returns:
        The folder written.
    """
    from diffusers import EulerDiscreteScheduler
    from transformers import CLIPTokenizer

    from nodes.models.tokenizer import EOS_ID, TOKENIZER_DIR

    slots = _family_slots(family, text_encoders)
    layers = list(clip_layers) if clip_layers is not None else [s.clip_layer for s in slots]
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    unet.save_pretrained(root / "unet")
    vae.save_pretrained(root / "vae")
    index: dict[str, Any] = {"unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}
    for i, (slot, module) in enumerate(zip(slots, text_encoders, strict=True)):
        suffix = "" if i == 0 else f"_{i + 1}"
        module.save_pretrained(root / f"text_encoder{suffix}")
        pad = "<|endoftext|>" if slot.pad_token_id == EOS_ID else "!"  # diffusers' OpenCLIP convention
        CLIPTokenizer(
            vocab=str(TOKENIZER_DIR / "vocab.json"),
            merges=str(TOKENIZER_DIR / "merges.txt"),
            pad_token=pad,
            model_max_length=77,
        ).save_pretrained(root / f"tokenizer{suffix}")
        index[f"text_encoder{suffix}"] = ["transformers", type(module).__name__]
        index[f"tokenizer{suffix}"] = ["transformers", "CLIPTokenizer"]
    EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type=prediction_type,
        timestep_spacing="leading",
        steps_offset=1,
    ).save_pretrained(root / "scheduler")
    index["scheduler"] = ["diffusers", "EulerDiscreteScheduler"]
    _write_model_index(root, family, index)
    sidecar: dict[str, Any] = {"format": 1, "family": family, "prediction_type": prediction_type}
    sidecar["text_encoders"] = [{"clip_layer": layer} for layer in layers]
    (root / FOLDER_SIDECAR).write_text(json.dumps(sidecar, indent=2) + "\n")
    return root


def _write_model_index(root: Path, family: Family, components: dict[str, Any]) -> None:
    import diffusers

    index: dict[str, Any] = {"_diffusers_version": diffusers.__version__}
    if family == "sdxl":
        index.update(_class_name="StableDiffusionXLPipeline", force_zeros_for_empty_prompt=True)
        index.update(image_encoder=[None, None], feature_extractor=[None, None])
    else:
        index.update(_class_name="StableDiffusionPipeline", requires_safety_checker=False)
        index.update(safety_checker=[None, None], feature_extractor=[None, None], image_encoder=[None, None])
    index.update(components)
    (root / "model_index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
