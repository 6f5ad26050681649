"""Load text-to-image checkpoints: single files (``.safetensors``, ``.ckpt``) and diffusers folders.

Single-file loading, step by step
---------------------------------
1. **Read lazily.**  ``.safetensors`` tensors come from ``safe_open`` and stay memory-mapped (copy-on-
   write, paged in only when used); ``.ckpt`` / ``.pt`` go through ``torch.load(weights_only=True,
   mmap=True)``.  Nothing is copied eagerly, so peak RSS stays near the size of what is actually touched.
2. **Detect** family, prediction type and module configs from key names and shapes
   (:mod:`nodes.models.detect`).
3. **Build empty modules** from those configs with parameters on the ``meta`` device (no random
   initialisation, no memory).
4. **Check keys strictly, in the file's own names.**  The expected single-file keys are the empty
   modules' parameter names mapped through :mod:`nodes.models.keymap`.  A key the modules need but the
   file lacks is *missing*; a file key that no module uses is *unexpected*, except for the documented
   :data:`IGNORED_KEYS` / :data:`IGNORED_PREFIXES` (noise-schedule buffers, EMA copies, markers) and the
   per-encoder extras (``position_ids`` buffers, OpenCLIP ``logit_scale``, SD2's unused
   ``text_projection``).  All problems are reported at once in one :class:`CheckpointKeyError`.
5. **Convert** each component with diffusers' converters (``convert_ldm_unet_checkpoint``,
   ``convert_ldm_vae_checkpoint``, ``convert_ldm_clip_checkpoint``, ``convert_open_clip_checkpoint``)
   and **assign** the tensors into the empty modules (``load_state_dict(assign=True)``), strictly
   again.  transformers 5's ``CLIPTextModel`` has no ``text_model.`` prefix, so it is stripped for it.

Memory: without a ``dtype`` the modules' parameters *are* the mapped tensors (copy-on-write, so
in-place edits such as merging a LoRA never touch the file); loading an SD1.5-size bf16 file
(2.1 GB) took 0.4 s at 0.44 GB RSS on the project's CPU machine.  A ``dtype`` cast makes real copies
(fp32: 4.6 GB RSS), and while casting the file's pages are mapped in too (peak 6.7 GB).

SD2's OpenCLIP tower is kept whole (all of its layers, unlike diffusers, which drops the last one);
the penultimate-layer conditioning is expressed by ``TextEncoderInfo.clip_layer = -2`` instead, so
every tensor of the file is used and an exported file round-trips bit for bit.

Diffusers folders are read with ``from_pretrained(local_files_only=True)`` from local paths only.
"""

from __future__ import annotations

import json
import logging
import pickle
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from nodes.models.detect import detect
from nodes.models.info import (
    FAMILY_ENCODERS,
    Family,
    ModelInfo,
    Overrides,
    PredictionType,
    TextEncoderInfo,
)
from nodes.models.keymap import clip_to_ldm, unet_to_ldm, vae_to_ldm

if TYPE_CHECKING:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    TextEncoder = CLIPTextModel | CLIPTextModelWithProjection

logger = logging.getLogger(__name__)

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
FOLDER_SIDECAR = "latentloom.json"

IGNORED_KEYS = frozenset(
    {
        # noise schedule buffers of the LDM/SGM training wrappers
        "betas",
        "alphas_cumprod",
        "alphas_cumprod_prev",
        "sqrt_alphas_cumprod",
        "sqrt_one_minus_alphas_cumprod",
        "log_one_minus_alphas_cumprod",
        "sqrt_recip_alphas_cumprod",
        "sqrt_recipm1_alphas_cumprod",
        "posterior_variance",
        "posterior_log_variance_clipped",
        "posterior_mean_coef1",
        "posterior_mean_coef2",
        "logvar",
        "lvlb_weights",
        # markers read by detection (ComfyUI's CheckpointSave writes them)
        "v_pred",
        "ztsnr",
    }
)
IGNORED_PREFIXES = ("model_ema.", "first_stage_model.loss.", "denoiser.")


class CheckpointError(ValueError):
    """A checkpoint file cannot be read or loaded."""


class CheckpointKeyError(CheckpointError):
    """Strict loading failed: keys are missing from the file, or the file has keys nothing uses.

    Attributes:
        missing: keys the modules need that the file lacks (single-file names).
        unexpected: keys in the file that no module uses and that are not known to be ignorable.
    """

    def __init__(self, where: str, missing: Iterable[str], unexpected: Iterable[str], limit: int = 20) -> None:
        self.missing = tuple(sorted(missing))
        self.unexpected = tuple(sorted(unexpected))
        lines = [f"{where}: {len(self.missing)} missing and {len(self.unexpected)} unexpected keys"]
        for label, keys in (("missing", self.missing), ("unexpected", self.unexpected)):
            if keys:
                shown = "\n    ".join(keys[:limit])
                more = f"\n    ... and {len(keys) - limit} more" if len(keys) > limit else ""
                lines.append(f"  {label}:\n    {shown}{more}")
        super().__init__("\n".join(lines))


@dataclass(frozen=True, eq=False)
class LoadedCheckpoint:
    """The modules of a text-to-image checkpoint, ready for inference (``eval()``, no gradients).

    Attributes:
        unet: the denoiser.
        vae: the image autoencoder (``vae.config.scaling_factor`` = ``info.scaling_factor``).
        text_encoders: ``CLIPTextModel`` (SD1 CLIP-L, SD2 OpenCLIP-H, SDXL CLIP-L) or
            ``CLIPTextModelWithProjection`` (SDXL bigG), in ``info.text_encoders`` order.
        tokenizers: one ``CLIPTokenizer`` per text encoder, padding as that encoder expects.
        info: what was detected (family, prediction type, configs, per-encoder conditioning layer).
    """

    unet: UNet2DConditionModel
    vae: AutoencoderKL
    text_encoders: tuple[TextEncoder, ...]
    tokenizers: tuple[CLIPTokenizer, ...]
    info: ModelInfo


# --------------------------------------------------------------------------------------------------
# Reading files


def load_state_dict(path: str | Path, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """Read a single-file checkpoint's tensors without copying them.

    Args:
        path: ``.safetensors`` (memory-mapped via ``safe_open``) or ``.ckpt`` / ``.pt`` / ``.pth`` /
            ``.bin`` (``torch.load(weights_only=True, mmap=True)``; a top-level ``"state_dict"`` entry,
            nested or not, is unwrapped).
        dtype: when given and a ``.safetensors`` file stores floats in another dtype, the tensors are read
            one by one with plain file reads and cast as they arrive (see :func:`read_safetensors_cast`),
            so peak memory is the cast result alone instead of the result plus the mapped file.

    Returns:
        key -> tensor, on the CPU.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: unknown suffix, or a pickle that ``weights_only`` loading refuses.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    suffix = path.suffix.lower()
    if suffix in SAFETENSORS_SUFFIXES:
        from safetensors import safe_open

        if dtype is not None and _stored_float_dtypes(path) - {dtype}:
            return read_safetensors_cast(path, dtype)
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            return {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (not a dict)
    if suffix in PICKLE_SUFFIXES:
        return _unwrap_pickle(_torch_load(path), path)
    raise CheckpointError(
        f"{path}: unknown checkpoint suffix {suffix!r}; expected {SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES}"
    )


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as exc:
        if "mmap" not in str(exc):
            raise
        # legacy (pre-zipfile) serialisation cannot be memory-mapped
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refused by torch.load(weights_only=True), which never runs code from a file: {exc}. "
            "Convert it to .safetensors with a trusted tool first."
        ) from exc


def _unwrap_pickle(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    while isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: expected a state dict, found {type(obj).__name__}")
    dropped = sorted(k for k, v in obj.items() if not isinstance(v, torch.Tensor))
    if dropped:
        logger.warning("%s: ignoring non-tensor entries %s", path, dropped[:10])
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


_SAFETENSORS_DTYPES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64", "I32": "int32",
    "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool",
}


def _safetensors_header(handle: Any) -> tuple[dict[str, Any], int]:
    (length,) = struct.unpack("<Q", handle.read(8))
    header = json.loads(handle.read(length))
    header.pop("__metadata__", None)
    return header, 8 + length


def _stored_float_dtypes(path: Path) -> set[torch.dtype]:
    """The floating-point dtypes a ``.safetensors`` file stores (from its header alone)."""
    import torch

    with open(path, "rb") as handle:
        header, _ = _safetensors_header(handle)
    kinds = {getattr(torch, _SAFETENSORS_DTYPES.get(t["dtype"], "float32")) for t in header.values()}
    return {k for k in kinds if k.is_floating_point}


def read_safetensors_cast(path: str | Path, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Read every tensor of a ``.safetensors`` file with plain reads, casting floats to ``dtype``.

    Each tensor's bytes are read into one scratch buffer, sized for the largest tensor and reused, and cast
    from there into its own tensor, so memory holds the cast tensors plus that buffer; a memory map would
    keep every page it touched resident until the end.
    """
    import torch

    out: dict[str, torch.Tensor] = {}
    with open(path, "rb") as handle:
        header, base = _safetensors_header(handle)
        entries = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
        largest = max((e["data_offsets"][1] - e["data_offsets"][0] for _, e in entries), default=0)
        scratch = torch.empty(largest, dtype=torch.uint8)  # not zero-filled: every byte used is read first
        view = memoryview(scratch.numpy())
        for key, entry in entries:
            start, end = entry["data_offsets"]
            stored = getattr(torch, _SAFETENSORS_DTYPES[entry["dtype"]])
            size = end - start
            handle.seek(base + start)
            if handle.readinto(view[:size]) != size:
                raise CheckpointError(f"{path}: tensor {key!r} ends past the end of the file")
            raw = scratch[:size].view(stored).reshape(entry["shape"])
            target = dtype if raw.is_floating_point() else stored
            out[key] = torch.empty(entry["shape"], dtype=target).copy_(raw)
    return out


def read_metadata(path: str | Path) -> dict[str, str]:
    """The ``__metadata__`` of a ``.safetensors`` header (``{}`` for pickles or when absent)."""
    path = Path(path)
    if path.suffix.lower() not in SAFETENSORS_SUFFIXES:
        return {}
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as handle:
        return dict(handle.metadata() or {})


# --------------------------------------------------------------------------------------------------
# Single-file loading


def load_checkpoint(
    path: str | Path,
    *,
    dtype: torch.dtype | None = None,
    device: str | torch.device = "cpu",
    overrides: Overrides | None = None,
) -> LoadedCheckpoint:
    """Load an SD1 / SD2 / SDXL single-file checkpoint into diffusers and transformers modules.

    Args:
        path: a ``.safetensors`` or ``.ckpt`` / ``.pt`` file in the original (LDM/SGM) layout.
        dtype: cast floating-point weights to this dtype; ``None`` keeps the file's dtypes (and keeps
            safetensors weights memory-mapped).
        device: where the modules end up.
        overrides: facts detection cannot read from shapes (see :class:`nodes.models.detect.Overrides`).

    Returns:
        The :class:`LoadedCheckpoint`.

    Raises:
        FileNotFoundError: no such file.
        nodes.models.detect.DetectionError: not a supported family (the message lists what was found).
        CheckpointKeyError: missing or unexpected keys (all of them, in single-file names).
        CheckpointError: the file cannot be read.
    """
    state_dict = load_state_dict(path, dtype)
    return checkpoint_from_state_dict(state_dict, read_metadata(path), dtype=dtype, device=device, overrides=overrides)


def checkpoint_from_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str] | None = None,
    *,
    dtype: torch.dtype | None = None,
    device: str | torch.device = "cpu",
    overrides: Overrides | None = None,
) -> LoadedCheckpoint:
    """:func:`load_checkpoint` for a state dict already in memory (same arguments, same errors)."""
    state_dict = normalise_keys(state_dict)
    info = detect(state_dict, metadata, overrides=overrides)
    unet, vae, encoders = empty_modules(info)
    expected = {
        "unet": set(unet_to_ldm(unet.state_dict(), unet.config)),
        "vae": set(vae_to_ldm(vae.state_dict(), vae.config)),
    }
    for te, module in zip(info.text_encoders, encoders, strict=True):
        expected[te.name] = set(clip_to_ldm(module.state_dict(), te))
    check_keys(state_dict, expected, info)
    _load_unet(unet, state_dict, expected["unet"], info, dtype)
    _load_vae(vae, state_dict, expected["vae"], info, dtype)
    for te, module in zip(info.text_encoders, encoders, strict=True):
        _load_text_encoder(module, state_dict, expected[te.name], te, dtype)
    return LoadedCheckpoint(
        unet=_ready(unet, device),
        vae=_ready(vae, device),
        text_encoders=tuple(_ready(m, device) for m in encoders),
        tokenizers=_tokenizers(info.text_encoders),
        info=info,
    )


def normalise_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Add the ``text_model.`` level that SD1 files written by old transformers versions lack."""
    prefix = "cond_stage_model.transformer."
    out = {}
    for key, value in state_dict.items():
        if key.startswith(prefix) and not key.startswith(prefix + "text_model."):
            key = prefix + "text_model." + key[len(prefix) :]
        out[key] = value
    return out


def empty_modules(info: ModelInfo) -> tuple[UNet2DConditionModel, AutoencoderKL, tuple[TextEncoder, ...]]:
    """Build the UNet, VAE and text encoders of ``info`` with parameters on ``meta`` (no memory)."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    with init_empty_weights(include_buffers=False):
        unet = UNet2DConditionModel.from_config(dict(info.unet_config))
        vae = AutoencoderKL.from_config(dict(info.vae_config))
        encoders = tuple(
            (CLIPTextModelWithProjection if te.with_projection else CLIPTextModel)(te.clip_config())
            for te in info.text_encoders
        )
    return unet, vae, encoders


def ignorable_keys(info: ModelInfo) -> frozenset[str]:
    """File keys that are known and deliberately unused, beyond :data:`IGNORED_KEYS` / prefixes."""
    keys = set(IGNORED_KEYS)
    for te in info.text_encoders:
        if te.layout == "openai":
            keys.add(te.prefix + "text_model.embeddings.position_ids")
        else:
            keys.add(te.prefix + "logit_scale")
            if not te.with_projection:
                keys.add(te.prefix + "text_projection")  # SD2 conditions on hidden states only
    return frozenset(keys)


def check_keys(state_dict: Mapping[str, Any], expected: Mapping[str, set[str]], info: ModelInfo) -> None:
    """Raise one :class:`CheckpointKeyError` listing every missing and unexpected key."""
    needed = set().union(*expected.values())
    present = set(state_dict)
    ignorable = ignorable_keys(info)
    missing = needed - present
    unexpected = {k for k in present - needed if k not in ignorable and not k.startswith(IGNORED_PREFIXES)}
    if missing or unexpected:
        raise CheckpointKeyError(f"{info.family} checkpoint", missing, unexpected)


def _subset(state_dict: Mapping[str, torch.Tensor], keys: Iterable[str]) -> dict[str, torch.Tensor]:
    return {k: state_dict[k] for k in keys}


def _load_unet(
    unet: UNet2DConditionModel,
    state_dict: Mapping[str, torch.Tensor],
    keys: set[str],
    info: ModelInfo,
    dtype: torch.dtype | None,
) -> None:
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    converted = convert_ldm_unet_checkpoint(_subset(state_dict, keys), dict(info.unet_config))
    assign_state_dict(unet, converted, "UNet", dtype)


def _load_vae(
    vae: AutoencoderKL,
    state_dict: Mapping[str, torch.Tensor],
    keys: set[str],
    info: ModelInfo,
    dtype: torch.dtype | None,
) -> None:
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    converted = convert_ldm_vae_checkpoint(_subset(state_dict, keys), dict(info.vae_config))
    assign_state_dict(vae, converted, "VAE", dtype)


def _load_text_encoder(
    module: TextEncoder,
    state_dict: Mapping[str, torch.Tensor],
    keys: set[str],
    te: TextEncoderInfo,
    dtype: torch.dtype | None,
) -> None:
    from diffusers.loaders.single_file_utils import convert_ldm_clip_checkpoint, convert_open_clip_checkpoint

    subset = _subset(state_dict, keys)
    if te.layout == "openai":
        converted = convert_ldm_clip_checkpoint(subset, remove_prefix=te.prefix)
    else:
        # Strip the prefix so that diffusers' SD2 ignore-list (which drops layer 23) never applies.
        bare = {k[len(te.prefix) :]: v for k, v in subset.items()}
        converted = convert_open_clip_checkpoint(module, bare, prefix="")
    if not hasattr(module, "text_model"):  # transformers 5 flattened CLIPTextModel
        converted = {k.removeprefix("text_model."): v for k, v in converted.items()}
    assign_state_dict(module, converted, f"text encoder {te.name}", dtype)


def assign_state_dict(
    module: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], where: str, dtype: torch.dtype | None = None
) -> None:
    """Load ``state_dict`` into a (meta-initialised) module by assignment, strictly.

    Raises:
        CheckpointKeyError: names differ (module names); ``CheckpointError``: shapes differ, or
            some parameter or buffer is still on ``meta`` afterwards.
    """
    if dtype is not None:
        state_dict = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state_dict.items()}
    try:
        result = module.load_state_dict(dict(state_dict), strict=False, assign=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{where}: {exc}") from exc
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointKeyError(where, result.missing_keys, result.unexpected_keys)
    still_empty = [n for n, t in [*module.named_parameters(), *module.named_buffers()] if t.is_meta]
    if still_empty:
        raise CheckpointError(f"{where}: tensors left uninitialised: {still_empty[:20]}")


def _ready(module: Any, device: str | torch.device) -> Any:
    module.requires_grad_(False)
    module.eval()
    if torch.device(device) != torch.device("cpu"):
        module.to(device)
    return module


def _tokenizers(encoders: Iterable[TextEncoderInfo]) -> tuple[CLIPTokenizer, ...]:
    from nodes.models.tokenizer import EOS_ID, clip_tokenizer

    return tuple(clip_tokenizer("eos" if te.pad_token_id == EOS_ID else "zero") for te in encoders)


# --------------------------------------------------------------------------------------------------
# Diffusers folders


def load_diffusers_folder(
    path: str | Path, *, dtype: torch.dtype | None = None, device: str | torch.device = "cpu"
) -> LoadedCheckpoint:
    """Load a local diffusers folder (``model_index.json`` with ``unet/``, ``vae/``, ``text_encoder/`` ...).

    Only local directories are read (``local_files_only=True``); nothing is fetched.  The folder's
    ``tokenizer*/`` directories are not read: all supported families share the committed CLIP
    vocabulary, and padding follows the family.  Family: two text encoders and a ``text_time`` UNet
    mean SDXL, a ``gelu`` (OpenCLIP) encoder SD2, otherwise SD1.  The prediction type and conditioning
    layers come from ``latentloom.json`` when :func:`nodes.models.export.save_diffusers_folder` wrote
    one, else from ``scheduler/scheduler_config.json`` and diffusers' conventions (SD2's encoder there
    already lacks its last layer, so it conditions on its final output).

    Raises:
        FileNotFoundError: ``path`` is not a local folder with ``model_index.json``.
        CheckpointError: a component class other than UNet2DConditionModel / AutoencoderKL / CLIP.
    """
    from diffusers import AutoencoderKL, UNet2DConditionModel

    root = Path(path)
    if not (root / "model_index.json").is_file():
        raise FileNotFoundError(f"{root} is not a local diffusers folder (no model_index.json)")
    index = json.loads((root / "model_index.json").read_text())
    kwargs: dict[str, Any] = {"local_files_only": True}
    if dtype is not None:
        kwargs["torch_dtype"] = dtype
    unet = UNet2DConditionModel.from_pretrained(str(root), subfolder="unet", **kwargs)
    vae = AutoencoderKL.from_pretrained(str(root), subfolder="vae", **kwargs)
    names = [n for n in ("text_encoder", "text_encoder_2") if (index.get(n) or [None])[0] is not None]
    encoders = tuple(_pretrained_text_encoder(root / n, index[n][1], dtype) for n in names)
    info = _folder_info(root, unet, vae, encoders)
    return LoadedCheckpoint(
        unet=_ready(unet, device),
        vae=_ready(vae, device),
        text_encoders=tuple(_ready(m, device) for m in encoders),
        tokenizers=_tokenizers(info.text_encoders),
        info=info,
    )


def _pretrained_text_encoder(folder: Path, class_name: str, dtype: torch.dtype | None) -> TextEncoder:
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    classes = {"CLIPTextModel": CLIPTextModel, "CLIPTextModelWithProjection": CLIPTextModelWithProjection}
    if class_name not in classes:
        raise CheckpointError(f"{folder.name}: text encoder class {class_name!r} is not one of {sorted(classes)}")
    kwargs: dict[str, Any] = {"local_files_only": True}
    if dtype is not None:
        kwargs["dtype"] = dtype
    model: TextEncoder = classes[class_name].from_pretrained(str(folder), **kwargs)  # type: ignore[assignment]
    return model


_FOLDER_CONFIG_BOOKKEEPING = {
    "transformers_version",
    "architectures",
    "_name_or_path",
    "dtype",
    "torch_dtype",
    "model_type",
}
_DIFFUSERS_CLIP_LAYERS: dict[Family, tuple[int, ...]] = {"sd1": (-1,), "sd2": (-1,), "sdxl": (-2, -2)}


def _folder_info(root: Path, unet: Any, vae: Any, encoders: tuple[Any, ...]) -> ModelInfo:
    sidecar = json.loads((root / FOLDER_SIDECAR).read_text()) if (root / FOLDER_SIDECAR).is_file() else {}
    scheduler_file = root / "scheduler" / "scheduler_config.json"
    scheduler = json.loads(scheduler_file.read_text()) if scheduler_file.is_file() else {}
    family: Family
    if len(encoders) == 2 and unet.config.get("addition_embed_type") == "text_time":
        family = "sdxl"
    elif len(encoders) == 1:
        family = "sd2" if encoders[0].config.hidden_act == "gelu" else "sd1"
    else:
        raise CheckpointError(f"{root}: {len(encoders)} text encoders do not match SD1, SD2 or SDXL")
    family = sidecar.get("family", family)
    prediction: PredictionType = sidecar.get("prediction_type") or scheduler.get("prediction_type", "epsilon")
    layers = sidecar.get("text_encoders") or [{"clip_layer": c} for c in _DIFFUSERS_CLIP_LAYERS[family]]
    text_infos = []
    for template, module, extra in zip(FAMILY_ENCODERS[family], encoders, layers, strict=True):
        config = {k: v for k, v in module.config.to_dict().items() if k not in _FOLDER_CONFIG_BOOKKEEPING}
        text_infos.append(replace(template, config=config, **extra))
    return ModelInfo(
        family=family,
        prediction_type=prediction,
        prediction_source=f"{FOLDER_SIDECAR}" if "prediction_type" in sidecar else "scheduler config",
        zero_terminal_snr=bool(scheduler.get("rescale_betas_zero_snr", False)),
        unet_config={k: v for k, v in unet.config.items() if not k.startswith("_")},
        vae_config={k: v for k, v in vae.config.items() if not k.startswith("_")},
        text_encoders=tuple(text_infos),
        scaling_factor=float(vae.config.scaling_factor),
        latent_channels=int(vae.config.latent_channels),
    )
