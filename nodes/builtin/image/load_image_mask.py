"""LoadImageMask: one channel of an image file from the input folder as a MASK ("Load Image (as Mask)").

The file is found as :mod:`~nodes.builtin.image.load_image` finds it (input-folder names, annotated names,
never outside the folder); only the first frame is read, EXIF orientation applied. ``alpha`` gives
``1 - alpha`` (transparent = masked, as LoadImage's mask); ``red``, ``green`` and ``blue`` give the channel
itself. A file without the chosen channel gives a 64x64 zero mask. The helpers below are copies of
LoadImage's (habit 4: a node file imports only
``nodes.api``, plus ``graph.context`` for the runtime's folders); a test keeps them identical.
"""

import hashlib
import os
from pathlib import Path
from typing import Annotated, Literal

from graph.context import runtime
from nodes.api import Choices, Mask, Widget, node

# Copied from nodes.builtin.image.load_image.IMAGE_SUFFIXES
IMAGE_SUFFIXES = frozenset(
    {".png", ".apng", ".jpg", ".jpeg", ".jfif", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif", ".ico", ".tga"}
)
# Copied from nodes.builtin.image.load_image._ANNOTATIONS
_ANNOTATIONS = {"[input]": "input", "[output]": "output", "[temp]": "temp"}
# Copied from nodes.builtin.image.load_image._LISTED_IN_ERRORS
_LISTED_IN_ERRORS = 20


# Copied from nodes.builtin.image.load_image.input_images
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


# Copied from nodes.builtin.image.load_image.locate
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


# Copied from nodes.builtin.image.load_image.check_image
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


# Copied from nodes.builtin.image.load_image.file_digest
def file_digest(image: str) -> str:
    """The SHA-256 of the file (ComfyUI's IS_CHANGED for LoadImage)."""
    digest = hashlib.sha256()
    with open(locate(image)[1], "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@node(
    "LoadImageMask",
    display_name="Load Image (as Mask)",
    category="mask",
    validate=check_image,
    fingerprint=file_digest,
)
def load_image_mask(
    image: Annotated[str, Choices(input_images), Widget(image_upload=True, upload="image")],
    channel: Literal["alpha", "red", "green", "blue"] = "alpha",
) -> Mask:
    """Load one channel of an image from the input folder as a mask (alpha is inverted: 1 - alpha)."""
    import numpy as np
    import torch
    from PIL import Image as PILImage
    from PIL import ImageOps

    with PILImage.open(locate(image)[1]) as opened:
        frame = ImageOps.exif_transpose(opened)
        if frame.getbands() != ("R", "G", "B", "A"):
            if frame.mode.startswith("I"):
                frame = frame.convert("I").point(lambda v: v * (1 / 255))
            frame = frame.convert("RGBA")
        band = channel[0].upper()
        if band not in frame.getbands():
            return torch.zeros((1, 64, 64), dtype=torch.float32)
        values = np.asarray(frame.getchannel(band), dtype=np.float32) / 255.0
    if band == "A":
        values = 1.0 - values
    return torch.from_numpy(values.astype(np.float32)).unsqueeze(0)


LATENTLOOM_NODES = [load_image_mask]
