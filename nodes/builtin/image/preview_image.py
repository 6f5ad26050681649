"""PreviewImage: show images in the UI through PNG files in the temp folder ("Preview Image", an output node).

Works as :mod:`~nodes.builtin.image.save_image` does (same naming, the same ``prompt`` and ``extra_pnginfo``
chunks) with ComfyUI's differences: files go to the temp folder, the prefix is ``ComfyUI_temp_`` plus five
random letters (so previews of different runs do not collide), the UI entries say ``"type": "temp"``, and
compression is level 1 (fast). The naming and writing helpers are SaveImage's,
imported from its file.
"""

import random
import string
from typing import Annotated, Any

from nodes.api import Hidden, Image, Result, Widget, node
from nodes.builtin.image.save_image import save_pngs


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
