"""ContactSheet: many images on one labelled grid (what a sweep saves beside its images).

The images come in as linked inputs named ``image_1``, ``image_2``, ... (any number; the node accepts
extra inputs), in the order of their numbers; every item of each batch gets a cell. ``labels`` holds one
line per input, written under each of its cells (a batch item's index is added when the batch has more
than one). Cells are as large as the largest image and wide enough for the longest label; images of other
sizes sit in the top-left corner of their cell on a dark background. ``columns`` 0 picks a near-square
grid; ``title``, when given, heads the sheet. Text uses Pillow's default font.
"""

import math
import re
from typing import Annotated, Any

from nodes.api import Image, Range, Widget, node

_PAD = 4
_BACKGROUND = (24, 24, 24)
_TEXT = (235, 235, 235)


def _order(name: str) -> tuple[int, str]:
    found = re.search(r"(\d+)$", name)
    return (int(found.group(1)) if found else 0, name)


@node(
    "ContactSheet",
    display_name="Contact Sheet",
    category="image",
    accepts_extra=True,
    description="Lays out images (inputs image_1, image_2, ...) on one grid with a label under each.",
)
def contact_sheet(
    labels: Annotated[str, Widget(multiline=True, tooltip="One label per image input, one per line.")] = "",
    columns: Annotated[int, Range(0, 256), Widget(tooltip="Cells per row; 0 picks a near-square grid.")] = 0,
    title: Annotated[str, Widget(tooltip="A heading for the sheet (empty: none).")] = "",
    **images: Any,
) -> Image:
    """Tile the linked images with their labels."""
    import numpy as np
    import torch
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont

    names = sorted((n for n in images if images[n] is not None), key=_order)
    if not names:
        raise ValueError("ContactSheet needs at least one linked image input (image_1, image_2, ...)")
    texts = labels.split("\n")
    cells: list[tuple[Any, str]] = []
    for i, name in enumerate(names):
        batch = images[name]
        label = texts[i] if i < len(texts) else name
        for b in range(int(batch.shape[0])):
            pixels = np.clip(255.0 * batch[b].detach().float().cpu().numpy(), 0, 255).astype(np.uint8)
            picture = PILImage.fromarray(pixels[..., :3] if pixels.shape[-1] >= 3 else pixels[..., 0]).convert("RGB")
            cells.append((picture, label if batch.shape[0] == 1 else f"{label} [{b}]"))
    font = ImageFont.load_default()
    measure = ImageDraw.Draw(PILImage.new("RGB", (1, 1)))
    line = max(measure.textbbox((0, 0), "Ag", font=font)[3], 8) + _PAD
    cell_w = max(max(p.width for p, _ in cells), max(measure.textlength(t, font=font) for _, t in cells) + 2 * _PAD)
    cell_h = max(p.height for p, _ in cells) + line
    cols = columns or math.ceil(math.sqrt(len(cells)))
    rows = math.ceil(len(cells) / cols)
    head = line + _PAD if title else 0
    sheet = PILImage.new("RGB", (int(cols * cell_w + (cols + 1) * _PAD), int(head + rows * cell_h + (rows + 1) * _PAD)), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((_PAD, _PAD), title, fill=_TEXT, font=font)
    for n, (picture, text) in enumerate(cells):
        x = _PAD + (n % cols) * (cell_w + _PAD)
        y = head + _PAD + (n // cols) * (cell_h + _PAD)
        sheet.paste(picture, (int(x), int(y)))
        draw.text((x + _PAD, y + cell_h - line + _PAD // 2), text, fill=_TEXT, font=font)
    return torch.from_numpy(np.asarray(sheet, dtype=np.float32) / 255.0)[None]


LATENTLOOM_NODES = [contact_sheet]
