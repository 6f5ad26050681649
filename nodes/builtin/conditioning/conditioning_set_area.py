"""ConditioningSetArea: limit a conditioning to a rectangle of the image ("Conditioning (Set Area)").

Sizes are pixels; they are stored in latent units as ComfyUI does: ``area = (height // 8, width // 8,
y // 8, x // 8)``, with ``strength`` and ``set_area_to_bounds = False``, on a copy of every entry's options.
"""

from typing import Annotated

from nodes.api import Conditioning, Range, node

MAX_RESOLUTION = 16384


@node("ConditioningSetArea", display_name="Conditioning (Set Area)", category="conditioning")
def conditioning_set_area(
    conditioning: Conditioning,
    width: Annotated[int, Range(64, MAX_RESOLUTION, step=8)] = 64,
    height: Annotated[int, Range(64, MAX_RESOLUTION, step=8)] = 64,
    x: Annotated[int, Range(0, MAX_RESOLUTION, step=8)] = 0,
    y: Annotated[int, Range(0, MAX_RESOLUTION, step=8)] = 0,
    strength: Annotated[float, Range(0.0, 10.0, step=0.01)] = 1.0,
) -> Conditioning:
    """Apply a conditioning only inside a rectangle (pixels), with a strength."""
    values = {"area": (height // 8, width // 8, y // 8, x // 8), "strength": strength, "set_area_to_bounds": False}
    return [[cond, {**options, **values}] for cond, options in conditioning]


LATENTLOOM_NODES = [conditioning_set_area]
