"""Typed results and shared constants of checkpoint detection (no torch import).

See :mod:`nodes.models.detect` for the policy that fills these in.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from transformers import CLIPTextConfig

logger = logging.getLogger(__name__)

Family = Literal["sd1", "sd2", "sdxl"]
PredictionType = Literal["epsilon", "v_prediction"]
EncoderLayout = Literal["openai", "open_clip"]

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
ARCHITECTURE_METADATA_KEY = "latentloom.architecture"
SUPPORTED = (
    "SD1.x (OpenAI CLIP-L under cond_stage_model.transformer.), "
    "SD2.x (OpenCLIP under cond_stage_model.model.), "
    "SDXL base (CLIP-L under conditioner.embedders.0.transformer. and OpenCLIP bigG under "
    "conditioner.embedders.1.model.), each with its UNet under model.diffusion_model. and its VAE "
    "under first_stage_model."
)
HEAD_WIDTH = 64  # SD2/SDXL UNets and every CLIP text tower use 64-wide attention heads
SCALING_FACTORS: dict[Family, float] = {"sd1": 0.18215, "sd2": 0.18215, "sdxl": 0.13025}

# Keys that may be overridden (by metadata or the caller): facts that shapes cannot tell.
UNET_FREE_KEYS = frozenset({"attention_head_dim", "norm_num_groups", "norm_eps", "upcast_attention", "sample_size"})
VAE_FREE_KEYS = frozenset({"norm_num_groups", "scaling_factor", "sample_size", "force_upcast"})
TEXT_CONFIG_FREE_KEYS = frozenset({"num_attention_heads", "hidden_act", "layer_norm_eps"})
TEXT_INFO_FREE_KEYS = frozenset({"clip_layer", "final_layer_norm"})


class DetectionError(ValueError):
    """The state dict is not a supported single-file checkpoint, or its facts contradict each other."""


class HasShape(Protocol):
    """Anything with a ``shape`` (a tensor, or a shape record read from a file header)."""

    @property
    def shape(self) -> Sequence[int]: ...


@dataclass(frozen=True)
class TextEncoderInfo:
    """One text encoder of a family: where it lives in the file and how its output is used.

    Attributes:
        name: ComfyUI's name for the tower: ``clip_l``, ``clip_h`` (SD2) or ``clip_g`` (SDXL).
        prefix: key prefix in the single-file layout.
        layout: ``openai`` (HF-style names under ``text_model.``) or ``open_clip`` (``resblocks``, fused qkv).
        with_projection: build ``CLIPTextModelWithProjection`` (SDXL's bigG, for the pooled embedding).
        clip_layer: hidden state used as conditioning, ComfyUI's ``stop_at_clip_layer`` convention:
            -1 is the last layer, -2 the penultimate ("clip skip 2").
        final_layer_norm: apply the final LayerNorm to that hidden state (SD1, SD2: yes; SDXL: no).
        pad_token_id: tokenizer padding id: 49407 ``<|endoftext|>`` for OpenAI CLIP, 0 for OpenCLIP.
        config: keyword arguments for ``transformers.CLIPTextConfig``.
    """

    name: str
    prefix: str
    layout: EncoderLayout
    with_projection: bool
    clip_layer: int
    final_layer_norm: bool
    pad_token_id: int
    config: Mapping[str, Any] = field(default_factory=dict)

    def clip_config(self) -> CLIPTextConfig:
        """Return the ``transformers.CLIPTextConfig`` for this encoder (imports transformers)."""
        from transformers import CLIPTextConfig

        return CLIPTextConfig(**self.config)


FAMILY_ENCODERS: dict[Family, tuple[TextEncoderInfo, ...]] = {
    "sd1": (TextEncoderInfo("clip_l", "cond_stage_model.transformer.", "openai", False, -1, True, 49407),),
    "sd2": (TextEncoderInfo("clip_h", "cond_stage_model.model.", "open_clip", False, -2, True, 0),),
    "sdxl": (
        TextEncoderInfo("clip_l", "conditioner.embedders.0.transformer.", "openai", False, -2, False, 49407),
        TextEncoderInfo("clip_g", "conditioner.embedders.1.model.", "open_clip", True, -2, False, 0),
    ),
}


@dataclass(frozen=True)
class Overrides:
    """Facts the caller (or the file's metadata) supplies because shapes cannot show them.

    Attributes:
        prediction_type: force epsilon or v-prediction.
        unet: keys of :data:`UNET_FREE_KEYS`, merged into the UNet config.
        vae: keys of :data:`VAE_FREE_KEYS`, merged into the VAE config.
        text_encoders: one mapping per encoder (in family order) with keys of
            :data:`TEXT_CONFIG_FREE_KEYS` (merged into the CLIP config) or :data:`TEXT_INFO_FREE_KEYS`.
    """

    prediction_type: PredictionType | None = None
    unet: Mapping[str, Any] = field(default_factory=dict)
    vae: Mapping[str, Any] = field(default_factory=dict)
    text_encoders: tuple[Mapping[str, Any], ...] = ()

    def check(self) -> None:
        """Raise ``ValueError`` naming any key that is not overridable."""
        problems = _unknown_keys("unet", self.unet, UNET_FREE_KEYS) + _unknown_keys("vae", self.vae, VAE_FREE_KEYS)
        for i, te in enumerate(self.text_encoders):
            problems += _unknown_keys(f"text_encoders[{i}]", te, TEXT_CONFIG_FREE_KEYS | TEXT_INFO_FREE_KEYS)
        if self.prediction_type not in (None, "epsilon", "v_prediction"):
            problems.append(f"prediction_type {self.prediction_type!r} is not 'epsilon' or 'v_prediction'")
        if problems:
            raise ValueError("invalid overrides: " + "; ".join(problems))

    def to_json(self) -> str:
        """Serialise (the ``latentloom.architecture`` metadata format)."""
        payload = {"format": 1, "unet": dict(self.unet), "vae": dict(self.vae)}
        payload["text_encoders"] = [dict(te) for te in self.text_encoders]
        if self.prediction_type is not None:
            payload["prediction_type"] = self.prediction_type
        return json.dumps(payload, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Overrides:
        """Parse :meth:`to_json` output; unknown keys are dropped with a warning (newer writers)."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != 1:
            raise ValueError(f"{ARCHITECTURE_METADATA_KEY}: unsupported format {data!r:.80}")
        known = (("unet", UNET_FREE_KEYS), ("vae", VAE_FREE_KEYS))
        parts = {name: _known_only(name, data.get(name, {}), keys) for name, keys in known}
        encoders = tuple(
            _known_only(f"text_encoders[{i}]", te, TEXT_CONFIG_FREE_KEYS | TEXT_INFO_FREE_KEYS)
            for i, te in enumerate(data.get("text_encoders", []))
        )
        return cls(data.get("prediction_type"), parts["unet"], parts["vae"], encoders)


@dataclass(frozen=True)
class ModelInfo:
    """What a checkpoint is and how to build its modules.

    Attributes:
        family: ``sd1``, ``sd2`` or ``sdxl``.
        prediction_type: ``epsilon`` or ``v_prediction``.
        prediction_source: which rule decided the prediction type (see the module docstring).
        zero_terminal_snr: the file carries the ``ztsnr`` marker (rescale betas to zero terminal SNR).
        unet_config: keyword arguments for ``diffusers.UNet2DConditionModel``.
        vae_config: keyword arguments for ``diffusers.AutoencoderKL``.
        text_encoders: one :class:`TextEncoderInfo` per encoder, in the family's order.
        scaling_factor: latent scale (0.18215 for SD1/SD2, 0.13025 for SDXL), also in ``vae_config``.
        latent_channels: channels of the latent image.
    """

    family: Family
    prediction_type: PredictionType
    prediction_source: str
    zero_terminal_snr: bool
    unet_config: Mapping[str, Any]
    vae_config: Mapping[str, Any]
    text_encoders: tuple[TextEncoderInfo, ...]
    scaling_factor: float
    latent_channels: int

    @property
    def scheduler_config(self) -> dict[str, Any]:
        """The DDPM training schedule shared by SD1, SD2 and SDXL, as diffusers scheduler kwargs."""
        return {
            "num_train_timesteps": 1000,
            "beta_start": 0.00085,
            "beta_end": 0.012,
            "beta_schedule": "scaled_linear",
            "prediction_type": self.prediction_type,
            "rescale_betas_zero_snr": self.zero_terminal_snr,
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=list))


def _unknown_keys(where: str, values: Mapping[str, Any], allowed: frozenset[str]) -> list[str]:
    bad = sorted(set(values) - allowed)
    return [f"{where} keys {bad} are not overridable (allowed: {sorted(allowed)})"] if bad else []


def _known_only(where: str, values: Any, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise ValueError(f"{ARCHITECTURE_METADATA_KEY}: {where} is not an object")
    unknown = sorted(set(values) - allowed)
    if unknown:
        logger.warning("%s: ignoring unknown %s keys %s", ARCHITECTURE_METADATA_KEY, where, unknown)
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in allowed}


def summarise_keys(keys: Sequence[str] | Mapping[str, Any], limit: int = 12) -> str:
    """``prefix: count`` for the most common key prefixes (two dotted parts; four under ``embedders``)."""
    counts: Counter[str] = Counter()
    for key in keys:
        parts = key.split(".")
        depth = 4 if parts[:2] == ["conditioner", "embedders"] else 2
        counts[".".join(parts[:depth]) + ("." if len(parts) > depth else "")] += 1
    common = counts.most_common(limit)
    text = ", ".join(f"{prefix} ({n})" for prefix, n in common)
    if len(counts) > limit:
        text += f", ... {len(counts) - limit} more prefixes"
    return f"{len(keys)} keys: {text}" if keys else "0 keys"
