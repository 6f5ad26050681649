"""LoadImage: an image file from the input folder as IMAGE and MASK (ComfyUI's "Load Image").

Names are paths relative to the input folder written with ``/`` (``photo.png``, ``sub/x.png``), as the
upload route stores them; ComfyUI's annotated names (``x.png [output]``, ``[temp]``, ``[input]``) read
from another folder. A name never resolves outside its folder.

Decoding follows ComfyUI: EXIF orientation is applied; every frame of an animated or multi-page file
(GIF, APNG, WebP, TIFF) that has the first frame's size becomes one batch item (an MPO keeps its first
frame only); 32-bit integer images are scaled by 1/255. The mask is ``1 - alpha`` (a palette image's
transparency counts as alpha), or a 64x64 zero mask per frame when the file has no alpha at all.

The listing for the COMBO is computed when asked (validation, ``/object_info``) through
``graph.context.runtime()``; the fingerprint (ComfyUI's IS_CHANGED) is the file's SHA-256, so an edited
file re-runs the node. As in ComfyUI, the node's own validation (the file exists) replaces the check
against the listed choices, which lets annotated names through.
"""

import hashlib
import os
from pathlib import Path
from typing import Annotated

from graph.context import runtime
from nodes.api import Choices, Image, Mask, Widget, node

#: File endings listed as images (formats Pillow decodes).
IMAGE_SUFFIXES = frozenset(
    {".png", ".apng", ".jpg", ".jpeg", ".jfif", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif", ".ico", ".tga"}
)
_ANNOTATIONS = {"[input]": "input", "[output]": "output", "[temp]": "temp"}
_LISTED_IN_ERRORS = 20


def input_images() -> list[str]:
    """Image files under the input folder, as sorted ``/``-separated relative names (hidden entries skipped)."""
    services = runtime()
    if services is None:
        return []
    root = Path(services.folders.input)
    if not root.is_dir():
        return []
    names = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for file in files:
            if not file.startswith(".") and os.path.splitext(file)[1].lower() in IMAGE_SUFFIXES:
                names.append(Path(folder, file).relative_to(root).as_posix())
    return sorted(names)


def locate(image: str) -> tuple[Path, Path]:
    """``(folder, path)`` of an image name; an annotated name picks its folder.

    Raises:
        RuntimeError: no runtime services (run the node through an Engine built by ``build_runtime``).
        ValueError: the name is absolute or leaves its folder.
    """
    services = runtime()
    if services is None:
        raise RuntimeError(
            "Loading an image needs the application's folders; run it through an Engine built by "
            "nodes.runtime.build_runtime (or inside graph.context.using_runtime(...))"
        )
    name, kind = image, "input"
    for annotation, folder_kind in _ANNOTATIONS.items():
        if image.endswith(" " + annotation):
            name, kind = image[: -len(annotation) - 1], folder_kind
    folder = Path(services.folders.folder(kind)).resolve()
    if not name or os.path.isabs(name) or name.startswith(("/", "\\")):
        raise ValueError(f"image name {image!r} must be a path relative to the {kind} folder {folder}")
    path = (folder / name).resolve()
    if folder not in path.parents:
        raise ValueError(f"image name {image!r} leaves the {kind} folder {folder}; pick a file inside it")
    return folder, path


def check_image(image: str) -> bool | str:
    """True when the file exists; otherwise an error naming the file, its folder and what is there."""
    try:
        folder, path = locate(image)
    except ValueError as exc:
        return f"Invalid image file: {exc}"
    if path.is_file():
        return True
    listed = input_images()
    shown = ", ".join(listed[:_LISTED_IN_ERRORS]) + (", ..." if len(listed) > _LISTED_IN_ERRORS else "")
    there = f"it holds {len(listed)} image(s): {shown}" if listed else "it holds no images"
    return f"Invalid image file: {image!r} is not in the folder {folder} ({there}); upload it or pick a listed one"


def file_digest(image: str) -> str:
    """The SHA-256 of the file (ComfyUI's IS_CHANGED for LoadImage)."""
    digest = hashlib.sha256()
    with open(locate(image)[1], "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@node(
    "LoadImage",
    display_name="Load Image",
    category="image",
    validate=check_image,
    fingerprint=file_digest,
)
def load_image(
    image: Annotated[str, Choices(input_images), Widget(image_upload=True, upload="image")],
) -> tuple[Image, Mask]:
    """Load an image from the input folder; the mask is 1 - alpha (all frames of an animation as a batch)."""
    import numpy as np
    import torch
    from PIL import Image as PILImage
    from PIL import ImageOps, ImageSequence

    frames: list[np.ndarray] = []
    alphas: list[np.ndarray | None] = []
    with PILImage.open(locate(image)[1]) as opened:
        for raw in ImageSequence.Iterator(opened):
            frame = ImageOps.exif_transpose(raw)
            if frame.mode.startswith("I"):  # 32-bit and 16-bit integer images, scaled as ComfyUI does
                frame = frame.convert("I").point(lambda v: v * (1 / 255))
            rgb = frame.convert("RGB")
            if frames and rgb.size != (frames[0].shape[1], frames[0].shape[0]):
                continue  # ComfyUI skips frames whose size differs from the first
            frames.append(np.asarray(rgb, dtype=np.float32) / 255.0)
            if "A" in frame.getbands():
                alphas.append(np.asarray(frame.getchannel("A"), dtype=np.float32) / 255.0)
            elif frame.mode == "P" and "transparency" in frame.info:
                alphas.append(np.asarray(frame.convert("RGBA").getchannel("A"), dtype=np.float32) / 255.0)
            else:
                alphas.append(None)
            if opened.format == "MPO":
                break  # the other frames of an MPO are previews or the second eye
    pixels = torch.from_numpy(np.stack(frames))
    if all(a is None for a in alphas):
        return pixels, torch.zeros((len(frames), 64, 64), dtype=torch.float32)
    height, width = frames[0].shape[:2]
    mask = np.stack([1.0 - a if a is not None else np.zeros((height, width), np.float32) for a in alphas])
    return pixels, torch.from_numpy(mask.astype(np.float32))


LATENTLOOM_NODES = [load_image]
