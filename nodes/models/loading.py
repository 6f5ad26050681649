"""Model files to handles, placed by the runtime settings and shared through the runtime's cache.

* :func:`load_checkpoint_handles`: a single-file checkpoint -> :class:`Loaded` (MODEL, CLIP, VAE).
* :func:`load_diffusers_handles`: a local diffusers folder -> :class:`Loaded`.
* :func:`load_vae_handle`: a standalone VAE file (original layout, with or without the
  ``first_stage_model.`` prefix, or diffusers layout) -> :class:`~nodes.models.handles.VaeHandle`.

Files are read on the CPU without a dtype (safetensors stay memory-mapped), then each component is
cast to the dtype of :mod:`nodes.models.placement` in one ``Module.to`` call, which copies nothing when
the file's dtype already matches.  With the runtime's model manager (:mod:`nodes.memory`) the components
stay on its offload device (the CPU) and are registered with it as ``<file>:unet``, ``<file>:clip`` and
``<file>:vae``; it moves them to the compute device when a node uses them.  Without one they are moved to
the placement's device here.

A standalone VAE file does not say which latent space it belongs to (SD1's and SDXL's VAEs have the same
shapes), so its scaling factor is decided, first match wins, by: a ``config.json`` next to the file
with ``scaling_factor`` (diffusers layout); the safetensors metadata (``scaling_factor``, or a
``modelspec.architecture`` naming SDXL); a file name containing ``xl`` (``sdxl_vae.safetensors``):
0.13025; otherwise SD1/SD2's 0.18215.  ``VaeHandle.scale_source`` records which rule decided.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nodes.memory import model_manager
from nodes.models.cache import file_signature, model_cache
from nodes.models.handles import ClipHandle, ModelHandle, VaeHandle
from nodes.models.info import SCALING_FACTORS, VAE_PREFIX
from nodes.models.placement import Placement, runtime_placement

if TYPE_CHECKING:
    import torch

    from nodes.memory.manager import ModelManager
    from nodes.models.checkpoint import LoadedCheckpoint

logger = logging.getLogger(__name__)

_VAE_FILE_PREFIXES = ("first_stage_model.", "vae.")
_VAE_IGNORED_PREFIXES = ("model_ema.", "loss.")


@dataclass(frozen=True, eq=False)
class Loaded:
    """The three handles of one loaded checkpoint (with no patches)."""

    model: ModelHandle
    clip: ClipHandle
    vae: VaeHandle


def _place(module: Any, device: torch.device, dtype: torch.dtype) -> Any:
    """Move and cast floating-point tensors (nothing is copied when both already match).

    ``torch.nn.Module.to`` is called directly: diffusers' override only adds a warning about
    fp32-pinned modules, which the SD UNet and VAE do not have.
    """
    import torch

    tensors = [*module.parameters(), *module.buffers()]
    if all(t.device == device and (t.dtype == dtype or not t.is_floating_point()) for t in tensors):
        return module
    return torch.nn.Module.to(module, device=device, dtype=dtype)


def handles_from_checkpoint(
    loaded: LoadedCheckpoint, placement: Placement, manager: ModelManager | None = None, name: str = "checkpoint"
) -> Loaded:
    """Place a :class:`~nodes.models.checkpoint.LoadedCheckpoint`'s modules and wrap them in handles.

    With a ``manager`` the modules rest on its offload device and are registered as ``name:unet`` etc.;
    text encoders the manager runs on the offload device are kept in float32.
    """
    import torch

    info = loaded.info
    device = placement.device if manager is None else manager.offload_device
    unet = _place(loaded.unet, device, placement.dtype)
    # text encoders that run on the CPU (lowvram, novram) run in float32 there, as ComfyUI's do
    on_cpu = manager is not None and manager.mover.moves and manager.runs_on_offload("clip")
    clip_dtype = torch.float32 if on_cpu else placement.dtype
    encoders = tuple(_place(m, device, clip_dtype) for m in loaded.text_encoders)
    vae = _place(loaded.vae, device, placement.vae_dtype)
    shift = float(vae.config.get("shift_factor") or 0.0)
    return Loaded(
        ModelHandle.create(unet, info, manager, f"{name}:unet"),
        ClipHandle.create(encoders, loaded.tokenizers, info, manager, f"{name}:clip"),
        VaeHandle.create(vae, info.scaling_factor, shift, "checkpoint", manager, f"{name}:vae"),
    )


def load_checkpoint_handles(path: str | Path, services: Any = None) -> Loaded:
    """A single-file checkpoint as handles, from the runtime's cache when already loaded.

    Raises:
        FileNotFoundError, nodes.models.checkpoint.CheckpointError, nodes.models.info.DetectionError:
            see :func:`nodes.models.checkpoint.load_checkpoint`.
    """
    from nodes.models.checkpoint import load_checkpoint

    placement, manager = runtime_placement(services), model_manager(services)
    key = ("checkpoint", *file_signature(path), placement.key)
    # Cast while reading when one dtype serves every component: peak memory is then the result alone.
    cast = placement.dtype if placement.dtype == placement.vae_dtype else None
    return model_cache(services).get_or_load(
        key, lambda: handles_from_checkpoint(load_checkpoint(path, dtype=cast), placement, manager, Path(path).name)
    )


def load_diffusers_handles(path: str | Path, services: Any = None) -> Loaded:
    """A local diffusers folder as handles, from the runtime's cache when already loaded.

    Raises:
        FileNotFoundError, nodes.models.checkpoint.CheckpointError: see
            :func:`nodes.models.checkpoint.load_diffusers_folder`.
    """
    from nodes.models.checkpoint import load_diffusers_folder

    placement, manager = runtime_placement(services), model_manager(services)
    key = ("diffusers", *file_signature(path), placement.key)
    return model_cache(services).get_or_load(
        key, lambda: handles_from_checkpoint(load_diffusers_folder(path), placement, manager, Path(path).name)
    )


def load_vae_handle(path: str | Path, services: Any = None) -> VaeHandle:
    """A standalone VAE file as a handle, from the runtime's cache when already loaded.

    Raises:
        FileNotFoundError, nodes.models.checkpoint.CheckpointError: unreadable file, missing or
            unexpected keys; nodes.models.info.DetectionError: not a VAE (the message lists the keys).
    """
    placement, manager = runtime_placement(services), model_manager(services)
    key = ("vae", *file_signature(path), placement.key)
    return model_cache(services).get_or_load(key, lambda: _load_vae_file(Path(path), placement, manager))


# --------------------------------------------------------------------------------------------------
# Standalone VAE files


def vae_ldm_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A standalone VAE state dict in the original layout under ``first_stage_model.``.

    Accepts original-layout keys with or without a ``first_stage_model.`` / ``vae.`` prefix, and
    diffusers-layout keys (``encoder.down_blocks.0.resnets.0.conv1.weight``), which are renamed with
    :func:`nodes.models.keymap.vae_to_ldm`.  EMA and loss keys are dropped.

    Raises:
        KeyError: a diffusers-layout key with no original name.
    """
    from nodes.models.keymap import vae_to_ldm

    bare: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        for prefix in _VAE_FILE_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
                break
        if not key.startswith(_VAE_IGNORED_PREFIXES):
            bare[key] = value
    if any(k.startswith(("encoder.down_blocks.", "decoder.up_blocks.")) for k in bare):
        levels = {int(m[1]) for k in bare if (m := re.match(r"encoder\.down_blocks\.(\d+)\.", k))}
        return vae_to_ldm(bare, {"up_block_types": [None] * (max(levels, default=-1) + 1)})
    return {VAE_PREFIX + k: v for k, v in bare.items()}


def vae_scaling_factor(path: Path, metadata: Mapping[str, str]) -> tuple[float, str]:
    """``(scaling factor, rule)`` for a standalone VAE file (see the module docstring)."""
    config = path.parent / "config.json"
    if config.is_file():
        try:
            value = json.loads(config.read_text()).get("scaling_factor")
        except (OSError, ValueError):
            value = None
        if isinstance(value, (int, float)):
            return float(value), "config.json"
    if "scaling_factor" in metadata:
        try:
            return float(metadata["scaling_factor"]), "metadata scaling_factor"
        except ValueError:
            pass
    if "xl" in metadata.get("modelspec.architecture", "").lower():
        return SCALING_FACTORS["sdxl"], "metadata modelspec.architecture"
    if "xl" in path.name.lower():
        return SCALING_FACTORS["sdxl"], "file name (contains 'xl')"
    return SCALING_FACTORS["sd1"], "default (SD1/SD2)"


def _load_vae_file(path: Path, placement: Placement, manager: ModelManager | None = None) -> VaeHandle:
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    from nodes.models.checkpoint import CheckpointKeyError, assign_state_dict, load_state_dict, read_metadata
    from nodes.models.infer import infer_vae
    from nodes.models.keymap import vae_to_ldm

    try:
        ldm = vae_ldm_keys(load_state_dict(path))
    except KeyError as exc:
        raise CheckpointKeyError(f"VAE file {path.name}", (), [str(exc.args[0])]) from exc
    config = infer_vae({k: tuple(v.shape) for k, v in ldm.items()}, "sd1", "epsilon")
    scale, source = vae_scaling_factor(path, read_metadata(path))
    config["scaling_factor"] = scale
    with init_empty_weights(include_buffers=False):
        vae = AutoencoderKL.from_config(config)
    expected = set(vae_to_ldm(vae.state_dict(), config))
    missing, unexpected = expected - set(ldm), set(ldm) - expected
    if missing or unexpected:
        raise CheckpointKeyError(f"VAE file {path.name}", missing, unexpected)
    assign_state_dict(vae, convert_ldm_vae_checkpoint(ldm, config), f"VAE file {path.name}")
    vae.requires_grad_(False).eval()
    logger.info("VAE %s: scaling factor %s from %s", path.name, scale, source)
    device = placement.device if manager is None else manager.offload_device
    return VaeHandle.create(_place(vae, device, placement.vae_dtype), scale, 0.0, source, manager, f"{path.name}:vae")
