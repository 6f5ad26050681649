"""Components of a local diffusers folder, loaded strictly and offline, for the prior and cascade stacks.

A diffusers pipeline folder is ``model_index.json`` plus one subfolder per component
(``prior/``, ``text_encoder/``, ``unet/``, ``scheduler/`` ...); ``model_index.json`` maps each component
name to ``[library, class name]`` (``[null, null]`` for a component the folder leaves out). This module
reads such folders for :mod:`nodes.models.unclip`, :mod:`nodes.models.cascade` and
:mod:`nodes.models.clip_joint`:

* :func:`load_part` builds one model component with ``from_pretrained(local_files_only=True)`` and
  refuses the result when weights are missing or have the wrong shape. diffusers and transformers both
  *warn* about missing weights and initialise them at random, which would run a broken model without a
  word; here that is a :class:`PartError` naming the folder and the keys. Weights the model does not use
  are logged as a warning (real folders sometimes carry leftovers, such as old ``position_ids`` buffers).
* :func:`load_scheduler` builds a scheduler from its ``scheduler_config.json``.
* :func:`clip_tokenizer_for` reads a CLIP tokenizer from the folder's ``tokenizer/`` (the real files,
  with the folder's own padding), or falls back to the committed CLIP vocabulary.
* :func:`resting_device`, :func:`register`, :func:`run_managed` and :func:`input_device` put components
  under the runtime's model manager (:mod:`nodes.memory`) when there is one: loaded components rest on
  its offload device, are registered as ``<folder>:<component>``, and compute inside ``manager.run``,
  which makes them resident (evicting idle models, streaming blocks when they do not fit) and retries
  once on out-of-memory. Without a manager they sit on the placement's device and run where they are.
* :func:`load_cached` shares a loaded folder through the runtime's model cache, weighed by the bytes of
  its manager records.
* :func:`require` states a cross-component shape rule (the prior's width equals the text encoder's
  projection ...), so a mismatched folder fails at load time with both numbers in the message.

Component classes are looked up in explicit tables (never by attribute name), and only local folders are
read: nothing here can reach a model hub.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import torch

    from nodes.models.placement import Placement

T = TypeVar("T")

logger = logging.getLogger(__name__)

class PartError(ValueError):
    """A folder component cannot be loaded: missing files, wrong class, missing or misshapen weights."""


def read_index(root: Path) -> dict[str, Any]:
    """``model_index.json`` of ``root``.

    Raises:
        FileNotFoundError: ``root`` is not a local diffusers folder.
    """
    index = root / "model_index.json"
    if not index.is_file():
        raise FileNotFoundError(f"{root} is not a local diffusers folder (no model_index.json)")
    data = json.loads(index.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise PartError(f"{index}: expected a JSON object")
    return data


def declared_class(index: Mapping[str, Any], name: str) -> str | None:
    """The class ``model_index.json`` names for component ``name``, or None when it leaves it out."""
    entry = index.get(name)
    if isinstance(entry, (list, tuple)) and len(entry) == 2 and entry[1]:
        return str(entry[1])
    return None


def has_part(root: Path, index: Mapping[str, Any], name: str) -> bool:
    """True when the folder declares component ``name`` and has its subfolder."""
    return declared_class(index, name) is not None and (root / name).is_dir()


def _model_classes() -> dict[str, Any]:
    from diffusers import PriorTransformer, UNet2DConditionModel, UNet2DModel, VQModel
    from diffusers.pipelines.deprecated.unclip.text_proj import UnCLIPTextProjModel
    from transformers import (
        CLIPModel,
        CLIPTextModelWithProjection,
        CLIPVisionModelWithProjection,
        T5EncoderModel,
    )

    return {
        "PriorTransformer": PriorTransformer,
        "UNet2DConditionModel": UNet2DConditionModel,
        "UNet2DModel": UNet2DModel,
        "VQModel": VQModel,
        "UnCLIPTextProjModel": UnCLIPTextProjModel,
        "CLIPTextModelWithProjection": CLIPTextModelWithProjection,
        "CLIPVisionModelWithProjection": CLIPVisionModelWithProjection,
        "CLIPModel": CLIPModel,
        "T5EncoderModel": T5EncoderModel,
    }


def load_part(
    root: Path,
    name: str,
    expected: str | tuple[str, ...],
    *,
    dtype: torch.dtype | None = None,
    index: Mapping[str, Any] | None = None,
) -> Any:
    """Load component ``name`` of the folder ``root`` (``root/name``; ``name=""`` for ``root`` itself).

    Args:
        root: the pipeline folder.
        name: the component's subfolder (``"prior"``, ``"text_encoder"`` ...), or ``""``.
        expected: the class (or classes) this stack accepts for the component.
        dtype: load in this dtype (None keeps the file's).
        index: the folder's ``model_index.json``; its class for ``name`` must be one of ``expected``.

    Returns:
        The module, in eval mode, without gradients, on the CPU.

    Raises:
        PartError: the subfolder is missing, the class is not accepted, or weights are missing or have
            the wrong shape (every key is listed, up to 20).
    """
    accepted = (expected,) if isinstance(expected, str) else expected
    where = f"{root.name}/{name}" if name else root.name
    folder = root / name if name else root
    if not (folder / "config.json").is_file():
        raise PartError(f"{where}: no config.json; the folder needs its {name or 'model'}/ component ({accepted[0]})")
    declared = declared_class(index, name) if index is not None and name else None
    class_name = declared or accepted[0]
    if class_name not in accepted:
        raise PartError(f"{where}: model_index.json names {class_name!r}; this loader takes {' or '.join(accepted)}")
    cls = _model_classes()[class_name]
    kwargs: dict[str, Any] = {"local_files_only": True, "output_loading_info": True}
    if dtype is not None:
        kwargs["dtype"] = dtype
    try:
        module, info = cls.from_pretrained(str(folder), **kwargs)
    except (OSError, ValueError, RuntimeError) as exc:
        raise PartError(f"{where}: cannot load {class_name}: {exc}") from exc
    problems = {
        "missing": sorted(info.get("missing_keys") or ()),
        "misshapen": sorted(str(k) for k in info.get("mismatched_keys") or ()),
    }
    if any(problems.values()):
        lines = [f"{where}: the weights do not fit {class_name} (config.json)"]
        for label, keys in problems.items():
            if keys:
                more = f" ... and {len(keys) - 20} more" if len(keys) > 20 else ""
                lines.append(f"  {label}: {', '.join(keys[:20])}{more}")
        raise PartError("\n".join(lines))
    if info.get("unexpected_keys"):
        logger.warning("%s: unused weights ignored: %s", where, sorted(info["unexpected_keys"])[:20])
    module.requires_grad_(False)
    return module.eval()


def load_scheduler(root: Path, name: str, index: Mapping[str, Any] | None = None) -> Any:
    """The scheduler in ``root/name/scheduler_config.json`` (an UnCLIP or DDPM scheduler).

    Raises:
        PartError: no config, or a scheduler class this engine does not drive.
    """
    from diffusers import DDPMScheduler, UnCLIPScheduler

    classes = {"UnCLIPScheduler": UnCLIPScheduler, "DDPMScheduler": DDPMScheduler}
    path = root / name / "scheduler_config.json"
    if not path.is_file():
        raise PartError(f"{root.name}/{name}: no scheduler_config.json")
    config = json.loads(path.read_text(encoding="utf-8"))
    class_name = (declared_class(index, name) if index is not None else None) or config.get("_class_name", "")
    if class_name not in classes:
        raise PartError(f"{root.name}/{name}: scheduler {class_name!r} is not one of UnCLIPScheduler, DDPMScheduler")
    return classes[class_name].from_config(config)


def clip_tokenizer_for(root: Path, name: str = "tokenizer") -> Any:
    """The CLIP tokenizer of a folder: ``root/name`` when it has the vocabulary files, else the committed one.

    The folder's own files keep its padding convention (Karlo pads with ``<|endoftext|>``, Kandinsky's
    bigG tokenizer with ``!``); the committed vocabulary is the same BPE vocabulary and pads with
    ``<|endoftext|>``. Either way the maximum length is 77 tokens.
    """
    from transformers import CLIPTokenizer

    from nodes.models.tokenizer import clip_tokenizer

    folder = root / name
    if (folder / "tokenizer.json").is_file() or (folder / "vocab.json").is_file():
        tokenizer = CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
        tokenizer.model_max_length = min(int(tokenizer.model_max_length), 77)
        return tokenizer
    return clip_tokenizer("eos")


def require(condition: bool, where: str, message: str) -> None:
    """Raise :class:`PartError` ``"{where}: {message}"`` unless ``condition`` (a cross-component shape rule)."""
    if not condition:
        raise PartError(f"{where}: {message}")


# --------------------------------------------------------------------------------------------------
# Where the components live: the runtime's model manager (nodes.memory), or the placement's device


def resting_device(placement: Placement, manager: Any) -> torch.device:
    """Where loaded components rest: the manager's offload device (it moves them when they run), else the
    placement's compute device."""
    return placement.device if manager is None else manager.offload_device


def register(manager: Any, modules: Sequence[Any], name: str, kind: str = "model") -> Any:
    """``manager.register(modules, name=..., kind=...)``, or None without a manager."""
    return None if manager is None else manager.register(list(modules), name=name, kind=kind)


def run_managed(memory: Any, fn: Callable[[int], T], *, working: int = 0, what: str = "the operation") -> T:
    """``fn(attempt)`` with ``memory``'s weights resident: the manager's ``run`` (residency, working memory,
    one retry with half the weights streamed on out-of-memory), or a plain call for an unmanaged model."""
    if memory is None:
        return fn(0)
    return memory.manager.run(fn, memory, working=working, what=what)  # type: ignore[no-any-return]


def input_device(memory: Any, module: Any) -> torch.device:
    """Where inputs of ``module`` go: the manager's device for it, else where its first weight is."""
    return memory.device if memory is not None else next(module.parameters()).device


@dataclass(frozen=True, eq=False)
class _Records:
    """The manager records of one loaded folder; ``size`` is what the model cache weighs it by."""

    records: tuple[Any, ...]

    @property
    def size(self) -> int:
        return sum(int(r.size) for r in self.records)


@dataclass(frozen=True, eq=False)
class _Entry:
    """A model-cache entry: the loaded value, and ``memory`` for :func:`nodes.models.cache.handle_bytes`."""

    value: Any
    memory: _Records


def _records(value: Any) -> tuple[Any, ...]:
    """The manager records (``memory``, ``movq_memory`` attributes) of a loaded value, its tuple items and
    dataclass fields, once each."""
    items = list(value) if isinstance(value, tuple) else [value]
    if is_dataclass(value) and not isinstance(value, type):
        items += [getattr(value, f.name) for f in fields(value)]
    found = {id(r): r for item in items for name in ("memory", "movq_memory")
             if (r := getattr(item, name, None)) is not None}
    return tuple(found.values())


def load_cached(tag: str, path: Path, services: Any, load: Callable[[Path, Placement, Any], T]) -> T:
    """``load(path, placement, manager)`` through the runtime's model cache, keyed by ``tag``, the folder's
    signature (newest file time and total size) and the placement, so a folder loaded twice shares weights.

    The entry is weighed by the bytes of the manager records it holds, so the cache's RAM budget can drop
    it (the weights live on while a cached node result still uses them).
    """
    from nodes.memory import model_manager
    from nodes.models.cache import file_signature, model_cache
    from nodes.models.placement import runtime_placement

    placement, manager = runtime_placement(services), model_manager(services)
    key = (tag, *file_signature(path), placement.key)

    def fill() -> _Entry:
        value = load(path, placement, manager)
        return _Entry(value, _Records(_records(value)))

    return model_cache(services).get_or_load(key, fill).value  # type: ignore[no-any-return]


def dtype_of(module: Any) -> torch.dtype:
    """The dtype of a module's first floating-point weight."""
    return next(p.dtype for p in module.parameters() if p.is_floating_point())


def place(module: Any, device: torch.device, dtype: torch.dtype) -> Any:
    """Move and cast a module's floating-point tensors (a no-op when they already match)."""
    import torch

    tensors = [*module.parameters(), *module.buffers()]
    if all(t.device == device and (t.dtype == dtype or not t.is_floating_point()) for t in tensors):
        return module
    return torch.nn.Module.to(module, device=device, dtype=dtype)


def folder_json(path: Path) -> dict[str, Any]:
    """A JSON file as a dict, or an empty dict when it is absent."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
