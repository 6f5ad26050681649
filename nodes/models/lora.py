"""LoRA files as weight patches for MODEL and CLIP handles.

Formats read (keys are grouped by module; each module needs an ``up`` and a ``down`` factor):

=====================  ==============================================================================
format                 keys
=====================  ==============================================================================
kohya (sd-scripts)     ``lora_unet_<module>`` with the module named either in diffusers layout
                       (``down_blocks_0_attentions_0_proj_in``, SD1 trainers) or in the original LDM
                       layout (``input_blocks_1_1_proj_in``, SDXL trainers), dots written as ``_``;
                       ``lora_te_<module>`` / ``lora_te1_`` (first text encoder) and ``lora_te2_``
                       (SDXL's second), transformers names (``text_model_encoder_layers_0_...``);
                       suffixes ``.lora_down.weight``, ``.lora_up.weight``, ``.alpha``
diffusers / PEFT       ``unet.<module>`` (diffusers names), ``text_encoder.<module>`` and
                       ``text_encoder_2.<module>`` (transformers names); suffixes ``.lora_A.weight`` /
                       ``.lora_B.weight``, ``.lora.down.weight`` / ``.lora.up.weight`` or
                       ``.lora_linear_layer.down.weight`` / ``.up.weight``; optional ``.alpha``
ComfyUI                ``diffusion_model.<LDM module>`` with any of the suffixes above
=====================  ==============================================================================

Each module's patch is ``W' = W + strength * (alpha / rank) * (up @ down)`` where ``rank`` is the
number of rows of ``down`` and ``alpha`` defaults to ``rank`` (scale 1).  Convolutions are handled by
flattening: ``up`` ``[out, rank(, 1, 1)]`` times ``down`` ``[rank, in(, kh, kw)]`` reshaped to the
weight's shape, which covers 1x1 and 3x3 LoCon layers and linear/1x1-conv mismatches (SD1's
``proj_in`` is a 1x1 conv, SD2's and SDXL's a linear layer).

A key that matches no module of the model, a module with only one factor, an unknown suffix (DoRA's
``dora_scale``, LoHa, LoKr ...) or a factor whose shape does not fit is an error listing every such key:
a LoRA that silently does nothing is worse than one that fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nodes.models.info import UNET_PREFIX
from nodes.models.patching import WeightPatch

if TYPE_CHECKING:
    import torch

    from nodes.models.handles import ClipHandle, ModelHandle

_SUFFIXES = (
    (".lora_down.weight", "down"),
    (".lora_up.weight", "up"),
    (".lora_A.weight", "down"),
    (".lora_B.weight", "up"),
    (".lora.down.weight", "down"),
    (".lora.up.weight", "up"),
    (".lora_linear_layer.down.weight", "down"),
    (".lora_linear_layer.up.weight", "up"),
    (".alpha", "alpha"),
)


class LoraError(ValueError):
    """A LoRA file does not fit the model (the message lists the keys)."""


@dataclass(frozen=True, eq=False)
class LoraDelta:
    """One module's low-rank factors: ``delta = (alpha / rank) * up @ down`` (see the module docstring)."""

    up: torch.Tensor
    down: torch.Tensor
    alpha: float | None = None

    @property
    def rank(self) -> int:
        return int(self.down.shape[0])

    @property
    def scale(self) -> float:
        return 1.0 if self.alpha is None else self.alpha / self.rank

    def check(self, shape: torch.Size) -> str | None:
        out_features, in_size = int(self.up.shape[0]), int(self.down[0].numel())
        if self.up.ndim < 2 or self.up[0].numel() != self.rank:
            return f"up {tuple(self.up.shape)} and down {tuple(self.down.shape)} ranks differ"
        if len(shape) < 2 or shape[0] != out_features or int(shape[1:].numel()) != in_size:
            factors = f"up {tuple(self.up.shape)} @ down {tuple(self.down.shape)}"
            return f"factors {factors} do not fit a weight {tuple(shape)}"
        return None

    def compute(self, shape: torch.Size, device: torch.device, scale: float) -> torch.Tensor:
        import torch

        up = self.up.to(device, torch.float32).flatten(1)
        down = self.down.to(device, torch.float32).flatten(1)
        return (up @ down).reshape(shape) * (scale * self.scale)


@dataclass
class LoraMatch:
    """A LoRA file's modules, resolved against a model and a CLIP.

    Attributes:
        unet: ``(parameter name, delta, source key)`` for the UNet.
        clip: ``(encoder index, parameter name, delta, source key)``.
        skipped: module names meant for a part that was not given (text encoders for a model-only load).
    """

    unet: list[tuple[str, LoraDelta, str]] = field(default_factory=list)
    clip: list[tuple[int, str, LoraDelta, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def group_modules(state_dict: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Group keys by module name: ``{module: {"up": t, "down": t, "alpha": t}}`` and unknown-suffix keys."""
    modules: dict[str, dict[str, Any]] = {}
    unknown = []
    for key, value in state_dict.items():
        for suffix, part in _SUFFIXES:
            if key.endswith(suffix):
                modules.setdefault(key[: -len(suffix)], {})[part] = value
                break
        else:
            unknown.append(key)
    return modules, unknown


# --------------------------------------------------------------------------------------------------
# Module names


def unet_names(unet: torch.nn.Module) -> dict[str, str]:
    """LoRA spellings of every UNet module with a weight -> its diffusers module name.

    Keys: ``unet.<diffusers>``, ``diffusion_model.<ldm>``, and the kohya ``lora_unet_`` forms of both.
    """
    from nodes.models.keymap import unet_key

    names: dict[str, str] = {}
    for name, module in unet.named_modules():
        if not name or not isinstance(getattr(module, "weight", None), _tensor_type()):
            continue
        names["unet." + name] = name
        names["lora_unet_" + name.replace(".", "_")] = name
        try:
            ldm = unet_key(name + ".weight", unet.config)
        except KeyError:
            continue
        ldm = ldm[len(UNET_PREFIX) : -len(".weight")]
        names["diffusion_model." + ldm] = name
        names["lora_unet_" + ldm.replace(".", "_")] = name
    return names


def clip_names(encoders: Iterable[torch.nn.Module]) -> dict[str, tuple[int, str]]:
    """LoRA spellings of every text-encoder module with a weight -> ``(encoder index, module name)``.

    transformers 5's ``CLIPTextModel`` has no ``text_model.`` level while LoRA files always name it;
    both spellings are accepted.
    """
    encoders = list(encoders)
    names: dict[str, tuple[int, str]] = {}
    for index, encoder in enumerate(encoders):
        kohya = ["lora_te_", "lora_te1_"] if index == 0 else [f"lora_te{index + 1}_"]
        dotted = ["text_encoder."] if index == 0 else [f"text_encoder_{index + 1}."]
        for name, module in encoder.named_modules():
            if not name or not isinstance(getattr(module, "weight", None), _tensor_type()):
                continue
            full = name if name.startswith("text_model.") or name == "text_projection" else "text_model." + name
            for spelling in {name, full}:
                for prefix in kohya:
                    names[prefix + spelling.replace(".", "_")] = (index, name)
                for prefix in dotted:
                    names[prefix + spelling] = (index, name)
    return names


def _tensor_type() -> type:
    import torch

    return torch.Tensor


_CLIP_PREFIX = re.compile(r"^(lora_te\d*_|text_encoder(_\d+)?\.)")
_UNET_PREFIX = re.compile(r"^(lora_unet_|unet\.|diffusion_model\.)")


# --------------------------------------------------------------------------------------------------
# Matching


def match_lora(
    state_dict: Mapping[str, torch.Tensor],
    model: ModelHandle | None,
    clip: ClipHandle | None,
    name: str = "LoRA",
) -> LoraMatch:
    """Resolve a LoRA state dict against a model and/or CLIP (None: that part is not loaded).

    Raises:
        LoraError: keys that match nothing, incomplete modules, unknown suffixes, or nothing matched
            at all; the message lists them.
    """
    modules, unknown = group_modules(state_dict)
    unet_map = unet_names(model.unet) if model is not None else {}
    clip_map = clip_names(clip.text_encoders) if clip is not None else {}
    match = LoraMatch()
    incomplete = []
    for module, parts in modules.items():
        if "up" not in parts or "down" not in parts:
            incomplete.append(f"{module} (has {sorted(parts)}, needs up and down)")
            continue
        alpha = float(parts["alpha"]) if "alpha" in parts else None
        delta = LoraDelta(parts["up"], parts["down"], alpha)
        if module in unet_map:
            match.unet.append((unet_map[module] + ".weight", delta, module))
        elif module in clip_map:
            index, target = clip_map[module]
            match.clip.append((index, target + ".weight", delta, module))
        elif (model is None and _UNET_PREFIX.match(module)) or (clip is None and _CLIP_PREFIX.match(module)):
            match.skipped.append(module)
        else:
            unknown.append(module)
    problems = []
    if unknown:
        problems.append(f"{len(unknown)} key(s) match no module of this model: {_listing(unknown)}")
    if incomplete:
        problems.append(f"{len(incomplete)} module(s) are incomplete: {_listing(incomplete)}")
    if problems:
        raise LoraError(f"{name}: " + "; ".join(problems))
    if not match.unet and not match.clip:
        parts = " or ".join(p for p, given in (("the model", model), ("the CLIP", clip)) if given is not None)
        raise LoraError(
            f"{name}: none of its {len(modules)} module(s) apply to {parts} "
            f"(skipped: {_listing(match.skipped) if match.skipped else 'none'})"
        )
    return match


def _listing(items: list[str], limit: int = 12) -> str:
    shown = ", ".join(sorted(items)[:limit])
    return shown + (f", ... and {len(items) - limit} more" if len(items) > limit else "")


def unet_patches(match: LoraMatch, strength: float, name: str) -> tuple[WeightPatch, ...]:
    """The UNet patches of a match (module 0) at ``strength``."""
    return tuple(WeightPatch(0, key, delta, strength, f"{name}:{src}") for key, delta, src in match.unet)


def clip_patches(match: LoraMatch, strength: float, name: str) -> tuple[WeightPatch, ...]:
    """The text-encoder patches of a match at ``strength``."""
    return tuple(WeightPatch(i, key, delta, strength, f"{name}:{src}") for i, key, delta, src in match.clip)


def load_lora_for_models(
    path: Any,
    model: ModelHandle | None,
    clip: ClipHandle | None,
    strength_model: float = 1.0,
    strength_clip: float = 1.0,
) -> tuple[ModelHandle | None, ClipHandle | None]:
    """Read a LoRA file and return clones of ``model`` and ``clip`` carrying its patches.

    A part whose strength is 0 (or that is None) is returned as given and its keys are not required
    to match.

    Raises:
        FileNotFoundError, nodes.models.checkpoint.CheckpointError: the file cannot be read.
        LoraError: see :func:`match_lora`.
        nodes.models.patching.PatchError: a factor's shape does not fit its weight.
    """
    from pathlib import Path

    from nodes.models.checkpoint import load_state_dict

    path = Path(path)
    use_model = model if model is not None and strength_model != 0 else None
    use_clip = clip if clip is not None and strength_clip != 0 else None
    if use_model is None and use_clip is None:
        return model, clip
    match = match_lora(load_state_dict(path), use_model, use_clip, path.name)
    if use_model is not None and match.unet:
        model = use_model.with_patches(unet_patches(match, strength_model, path.name))
    if use_clip is not None and match.clip:
        clip = use_clip.with_patches(clip_patches(match, strength_clip, path.name))
    return model, clip
