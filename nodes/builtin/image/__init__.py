"""The image pack: load, save, preview, resize, invert, create, pad and tile (contact sheet) IMAGE tensors.

IMAGE is ComfyUI's float32 ``[batch, height, width, channels]`` in 0..1 and MASK ``[batch, height, width]``.
One node per module; each imports only ``nodes.api`` (and ``graph.context`` for the runtime's folders)
at module level, and torch, numpy and Pillow inside its function, so building a registry stays torch-free.
"""

from nodes.builtin.image import (
    contact_sheet,
    empty_image,
    image_invert,
    image_pad_for_outpaint,
    image_scale,
    image_scale_by,
    load_image,
    load_image_mask,
    preview_image,
    save_image,
)

LATENTLOOM_NODES = [
    *load_image.LATENTLOOM_NODES,
    *load_image_mask.LATENTLOOM_NODES,
    *save_image.LATENTLOOM_NODES,
    *preview_image.LATENTLOOM_NODES,
    *image_scale.LATENTLOOM_NODES,
    *image_scale_by.LATENTLOOM_NODES,
    *image_invert.LATENTLOOM_NODES,
    *empty_image.LATENTLOOM_NODES,
    *image_pad_for_outpaint.LATENTLOOM_NODES,
    *contact_sheet.LATENTLOOM_NODES,
]
