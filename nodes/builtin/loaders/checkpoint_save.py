"""CheckpointSave: MODEL, CLIP and VAE written as one single-file checkpoint ("Save Checkpoint", output node).

The file is ``<output>/<filename_prefix>_<counter:05>_.safetensors`` in the original (LDM/SGM) layout
that every UI loads (:func:`nodes.models.export.save_checkpoint`), with the counter continuing after
the highest one already used by that prefix, as ComfyUI names it.  The prefix may name subfolders of
the output folder but never leave it.  Weight patches (LoRAs) of the model and the CLIP are baked in:
the modules are saved while they carry them.  The CLIP layer choice (CLIPSetLastLayer) is not part of a
checkpoint and is not saved.  Metadata: the workflow (``prompt``) and ``extra_pnginfo`` entries as JSON,
like ComfyUI, plus the ``modelspec`` keys the exporter writes.
"""

import json
import os
import re
from pathlib import Path
from typing import Annotated, Any

from graph.context import runtime
from nodes.api import Clip, Hidden, Model, Vae, Widget, node

_NODE = "CheckpointSave"


def _target(root: Path, prefix: str) -> Path:
    """The next free ``<prefix>_<counter:05>_.safetensors`` under ``root``.

    Raises:
        ValueError: the prefix is absolute, has no file name, or leaves ``root``.
    """
    normal = os.path.normpath(prefix)
    folder_part, stem = os.path.split(normal)
    if os.path.isabs(normal) or normal.startswith(("/", "\\")) or stem in ("", ".", ".."):
        raise ValueError(f"{_NODE}: filename_prefix {prefix!r} must be a relative name such as 'checkpoints/ComfyUI'")
    folder = (root / folder_part).resolve()
    if folder != root and root not in folder.parents:
        raise ValueError(f"{_NODE}: filename_prefix {prefix!r} would save outside the output folder {root}")
    pattern = re.compile(re.escape(os.path.normcase(stem)) + r"_(\d+)_")
    entries = os.listdir(folder) if folder.is_dir() else []
    used = [int(m.group(1)) for e in entries if (m := pattern.match(os.path.normcase(e)))]
    return folder / f"{stem}_{max(used, default=0) + 1:05}_.safetensors"


def _metadata(prompt: Any, extra_pnginfo: Any) -> dict[str, str]:
    metadata = {}
    if prompt is not None:
        metadata["prompt"] = json.dumps(prompt, default=str)
    for key, value in (extra_pnginfo or {}).items():
        metadata[str(key)] = json.dumps(value, default=str)
    return metadata


@node(
    _NODE,
    display_name="Save Checkpoint",
    category="advanced/model_merging",
    output=True,
    description="Saves the model, CLIP and VAE (with applied LoRAs) as one checkpoint in the output folder.",
)
def checkpoint_save(
    model: Model,
    clip: Clip,
    vae: Vae,
    filename_prefix: Annotated[
        str, Widget(tooltip="File name prefix; may name subfolders of the output folder.")
    ] = "checkpoints/ComfyUI",
    prompt: Annotated[Any, Hidden("PROMPT")] = None,
    extra_pnginfo: Annotated[Any, Hidden("EXTRA_PNGINFO")] = None,
) -> None:
    """Save a checkpoint."""
    from nodes.models.export import save_checkpoint

    services = runtime()
    if services is None:
        raise RuntimeError(f"{_NODE} needs the application's folders; run it through an Engine built by build_runtime")
    if model.info.family != clip.info.family:
        raise ValueError(
            f"{_NODE}: model is {model.info.family} but clip is {clip.info.family}; connect the CLIP of the same "
            f"family (a checkpoint holds one of each)"
        )
    path = _target(Path(services.folders.output).resolve(), filename_prefix)
    with model.use(), clip.use() as encoders:
        save_checkpoint(
            path,
            model.unet,
            vae.vae,
            encoders,
            model.info.family,
            _metadata(prompt, extra_pnginfo),
            prediction_type=model.info.prediction_type,
        )
    return None


LATENTLOOM_NODES = [checkpoint_save]
