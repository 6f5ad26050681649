"""Model files for text-to-image: CLIP tokenizer, checkpoint detection, loading and export.

Modules (each importable on its own):

* :mod:`nodes.models.tokenizer`: ``clip_tokenizer(pad="eos" | "zero")``, offline, from ``clip_tokenizer/``.
* :mod:`nodes.models.detect`: ``detect(state_dict, metadata) -> ModelInfo`` for SD1 / SD2 / SDXL base
  single files (the policy); :mod:`nodes.models.infer` reads every size from shapes;
  :mod:`nodes.models.info` holds the result types.  None of the three imports torch.
* :mod:`nodes.models.keymap`: diffusers/transformers names -> single-file (LDM) names.
* :mod:`nodes.models.checkpoint`: ``load_checkpoint(path)``, ``load_diffusers_folder(path)``,
  ``load_state_dict(path)`` -> :class:`LoadedCheckpoint`.
* :mod:`nodes.models.export`: ``save_checkpoint(...)`` (ComfyUI's CheckpointSave layout) and
  ``save_diffusers_folder(...)``.
* :mod:`nodes.models.handles`: ``ModelHandle``, ``ClipHandle``, ``VaeHandle``, the values on MODEL, CLIP
  and VAE ports; :mod:`nodes.models.patching` (weight patches on shared modules),
  :mod:`nodes.models.lora` (LoRA files as patches), :mod:`nodes.models.prompt` (prompt weighting and
  chunking), :mod:`nodes.models.loading` (files to handles, placed by :mod:`nodes.models.placement`
  and shared through :mod:`nodes.models.cache`).

The names below are re-exported lazily, so ``import nodes.models`` costs nothing until one is used
(torch, diffusers and transformers take seconds to import).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "clip_tokenizer": "tokenizer",
    "DetectionError": "info",
    "ModelInfo": "info",
    "Overrides": "info",
    "TextEncoderInfo": "info",
    "detect": "detect",
    "CheckpointError": "checkpoint",
    "CheckpointKeyError": "checkpoint",
    "LoadedCheckpoint": "checkpoint",
    "load_checkpoint": "checkpoint",
    "load_diffusers_folder": "checkpoint",
    "load_state_dict": "checkpoint",
    "read_metadata": "checkpoint",
    "save_checkpoint": "export",
    "save_diffusers_folder": "export",
    "ModelHandle": "handles",
    "ClipHandle": "handles",
    "VaeHandle": "handles",
    "WeightPatch": "patching",
    "LoraError": "lora",
    "load_lora_for_models": "lora",
    "parse_weights": "prompt",
}
__all__ = [
    "CheckpointError",
    "CheckpointKeyError",
    "ClipHandle",
    "DetectionError",
    "LoadedCheckpoint",
    "LoraError",
    "ModelHandle",
    "ModelInfo",
    "Overrides",
    "TextEncoderInfo",
    "clip_tokenizer",
    "VaeHandle",
    "WeightPatch",
    "detect",
    "load_checkpoint",
    "load_diffusers_folder",
    "load_lora_for_models",
    "load_state_dict",
    "parse_weights",
    "read_metadata",
    "save_checkpoint",
    "save_diffusers_folder",
]

if TYPE_CHECKING:
    from nodes.models.checkpoint import (
        CheckpointError,
        CheckpointKeyError,
        LoadedCheckpoint,
        load_checkpoint,
        load_diffusers_folder,
        load_state_dict,
        read_metadata,
    )
    from nodes.models.detect import detect
    from nodes.models.export import save_checkpoint, save_diffusers_folder
    from nodes.models.handles import ClipHandle, ModelHandle, VaeHandle
    from nodes.models.lora import LoraError, load_lora_for_models
    from nodes.models.patching import WeightPatch
    from nodes.models.prompt import parse_weights
    from nodes.models.info import DetectionError, ModelInfo, Overrides, TextEncoderInfo
    from nodes.models.tokenizer import clip_tokenizer


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'nodes.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f"nodes.models.{_EXPORTS[name]}"), name)


def __dir__() -> list[str]:
    return __all__
