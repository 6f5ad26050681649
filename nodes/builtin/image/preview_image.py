"""PreviewImage: show images in the UI through PNG files in the temp folder ("Preview Image", an output node).

Works as :mod:`~nodes.builtin.image.save_image` does (same naming, the same ``prompt`` and ``extra_pnginfo``
chunks) with ComfyUI's differences: files go to the temp folder, the prefix is ``ComfyUI_temp_`` plus five
random letters (so previews of different runs do not collide), the UI entries say ``"type": "temp"``, and
compression is level 1 (fast). The helpers below are copies of SaveImage's (habit 4: a node file imports
only ``nodes.api``, plus ``graph.context`` for the runtime's folders); a test keeps them identical.
"""

import json
import os
import random
import re
import string
import time
from pathlib import Path
from typing import Annotated, Any

from graph.context import runtime
from nodes.api import Hidden, Image, Result, Widget, node


# Copied from nodes.builtin.image.save_image.expand_prefix
def expand_prefix(prefix: str, width: int, height: int) -> str:
    """Replace ComfyUI's backend variables (``%width%``, ``%height%``, ``%year%`` ...) in ``prefix``."""
    if "%" not in prefix:
        return prefix
    now = time.localtime()
    values = {
        "width": str(width), "height": str(height), "year": str(now.tm_year), "month": f"{now.tm_mon:02}",
        "day": f"{now.tm_mday:02}", "hour": f"{now.tm_hour:02}", "minute": f"{now.tm_min:02}",
        "second": f"{now.tm_sec:02}",
    }
    for key, value in values.items():
        prefix = prefix.replace(f"%{key}%", value)
    return prefix


# Copied from nodes.builtin.image.save_image.target_folder
def target_folder(root: Path, prefix: str) -> tuple[Path, str, str]:
    """``(folder, file stem, subfolder)`` for ``prefix`` under ``root``.

    Raises:
        ValueError: the prefix has no file name, is absolute, or leaves ``root``.
    """
    normal = os.path.normpath(prefix)
    subfolder, stem = os.path.split(normal)
    if os.path.isabs(normal) or normal.startswith(("/", "\\")):
        raise ValueError(f"filename_prefix {prefix!r} is an absolute path; give a name inside {root}, e.g. 'sub/name'")
    if stem in ("", ".", ".."):
        raise ValueError(f"filename_prefix {prefix!r} has no file name; give one, e.g. 'ComfyUI' or 'sub/name'")
    folder = (root / subfolder).resolve()
    if folder != root and root not in folder.parents:
        raise ValueError(
            f"filename_prefix {prefix!r} would save outside the output folder {root}; "
            f"saving there is not allowed: use a name or a subfolder inside it, e.g. 'sub/name'"
        )
    return folder, stem, Path(subfolder).as_posix() if subfolder else ""


# Copied from nodes.builtin.image.save_image.next_counter
def next_counter(folder: Path, stem: str) -> int:
    """1 + the highest counter in ``<stem>_<digits>_...`` file names in ``folder`` (1 when there is none)."""
    pattern = re.compile(re.escape(os.path.normcase(stem)) + r"_(\d+)_")
    highest = 0
    if folder.is_dir():
        for entry in os.listdir(folder):
            found = pattern.match(os.path.normcase(entry))
            if found:
                highest = max(highest, int(found.group(1)))
    return highest + 1


# Copied from nodes.builtin.image.save_image.save_pngs
def save_pngs(
    images: Any, prefix: str, kind: str, prompt: Any, extra_pnginfo: Any, compress_level: int
) -> list[dict[str, str]]:
    """Write each image of the batch as a PNG into the ``kind`` folder; returns the UI image entries."""
    import numpy as np
    from PIL import Image as PILImage
    from PIL.PngImagePlugin import PngInfo

    services = runtime()
    if services is None:
        raise RuntimeError(
            "Saving images needs the application's folders; run the node through an Engine built by "
            "nodes.runtime.build_runtime (or inside graph.context.using_runtime(...))"
        )
    root = Path(services.folders.folder(kind)).resolve()
    prefix = expand_prefix(prefix, int(images.shape[2]), int(images.shape[1]))
    folder, stem, subfolder = target_folder(root, prefix)
    folder.mkdir(parents=True, exist_ok=True)
    counter = next_counter(folder, stem)
    metadata = PngInfo()
    if prompt is not None:
        metadata.add_text("prompt", json.dumps(prompt, default=str))
    if isinstance(extra_pnginfo, dict):  # one chunk per key, e.g. "workflow"
        for key, value in extra_pnginfo.items():
            metadata.add_text(str(key), json.dumps(value, default=str))
    results = []
    for batch_number, image in enumerate(images):
        pixels = np.clip(255.0 * image.detach().float().cpu().numpy(), 0, 255).astype(np.uint8)
        if pixels.ndim == 3 and pixels.shape[-1] == 1:
            pixels = pixels[..., 0]
        name = f"{stem.replace('%batch_num%', str(batch_number))}_{counter:05}_.png"
        PILImage.fromarray(pixels).save(folder / name, pnginfo=metadata, compress_level=compress_level)
        results.append({"filename": name, "subfolder": subfolder, "type": kind})
        counter += 1
    return results


@node(
    "PreviewImage",
    display_name="Preview Image",
    category="image",
    output=True,
    description="Saves the input images to the temp folder and shows them in the UI.",
)
def preview_image(
    images: Annotated[Image, Widget(tooltip="The images to preview.")],
    prompt: Annotated[Any, Hidden("PROMPT")] = None,
    extra_pnginfo: Annotated[Any, Hidden("EXTRA_PNGINFO")] = None,
) -> None:
    """Show images in the UI (written as temporary PNG files)."""
    suffix = "".join(random.SystemRandom().choices(string.ascii_lowercase, k=5))
    results = save_pngs(images, f"ComfyUI_temp_{suffix}", "temp", prompt, extra_pnginfo, compress_level=1)
    return Result(ui={"images": results})  # type: ignore[return-value]


LATENTLOOM_NODES = [preview_image]
