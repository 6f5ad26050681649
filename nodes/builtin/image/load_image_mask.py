"""LoadImageMask: one channel of an image file from the input folder as a MASK ("Load Image (as Mask)").

The file is found as :mod:`~nodes.builtin.image.load_image` finds it (input-folder names, annotated names,
never outside the folder); only the first frame is read, EXIF orientation applied. ``alpha`` gives
``1 - alpha`` (transparent = masked, as LoadImage's mask); ``red``, ``green`` and ``blue`` give the channel
itself. A file without the chosen channel gives a 64x64 zero mask. The file helpers are
LoadImage's, imported from its file.
"""

from typing import Annotated, Literal

from nodes.api import Choices, Mask, Widget, node
from nodes.builtin.image.load_image import check_image, file_digest, input_images, locate


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
