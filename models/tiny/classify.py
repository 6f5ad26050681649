"""Read back what a 64x64 picture shows: the background, the foreground's colour and its shape.

The classifier is deliberately simple (pixel statistics and plane geometry, no learning), so that a
measured prompt-following accuracy means the picture is plainly what was asked for.

1. **Background.**  The border (two pixels wide) is mostly background: its per-channel median is the
   background colour.  Border pixels far from it (a striped, checkered or dotted texture) give a second
   background colour when they make up at least a tenth of the border.
2. **Foreground.**  Pixels farther than :data:`FOREGROUND_DISTANCE` (RGB units) from every background
   colour; the largest 4-connected region of them, with its holes filled, is the object.  An object
   smaller than :data:`MIN_AREA` pixels means "nothing".
3. **Colour.**  The mean of the object's inner pixels (anti-aliased rim removed) is matched to the
   nearest of the named colours in :data:`models.tiny.dataset.COLORS`.
4. **Shape**, from the object's binary mask (:func:`shape_features`):

   * ``solidity``: area over the area of the convex hull.  A star's arms leave it far below 1.
   * ``fill``: area over the bounding box.  Square about 1, circle pi/4, heart about 0.7,
     triangle 1/2.
   * ``mirror``: overlap (IoU) of the mask with its own top-bottom mirror image.  A circle is
     unchanged; a heart (lobes up, point down) and a triangle (apex up) are not.
   * ``top``: the share of the area in the upper half of the bounding box: a triangle (apex up) has
     a quarter of it there, a heart more than half.
   * ``corners``: vertices of the convex hull after simplifying it (Douglas-Peucker, tolerance a tenth
     of the object's size): 3 for a triangle, 4 for a square, 5 for a star, more for round outlines.

   The rules, in order: star if solidity < 0.76; square if fill > 0.88 or 4 corners with fill > 0.8;
   triangle if top < 0.4 or 3 corners; heart if mirror < 0.75; otherwise circle.  On the data set's
   own pictures every feature is far from its threshold (see the tests).

:func:`classify` returns a :class:`Reading`.  Needs numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

try:  # imported by path (tests, benchmarks, train.py) or as a package
    from dataset import COLORS
except ImportError:  # pragma: no cover
    from models.tiny.dataset import COLORS

FOREGROUND_DISTANCE = 60.0
TEXTURE_DISTANCE = 30.0
MIN_AREA = 16
BORDER = 2
NOTHING = "none"


@dataclass(frozen=True)
class Reading:
    """What :func:`classify` saw.

    Attributes:
        color: nearest named colour of the object, or ``"none"``.
        shape: one of the dataset's shapes, or ``"none"`` when no object was found.
        background: RGB of the (main) background colour.
        area: object pixels (holes filled).
        features: the shape features (see :func:`shape_features`).
    """

    color: str
    shape: str
    background: tuple[float, float, float]
    area: int
    features: Mapping[str, float] = field(default_factory=dict)


def background_colors(image: np.ndarray) -> list[np.ndarray]:
    """One or two background colours read from the image border (see the module docstring)."""
    pixels = image.astype(np.float32)
    border = np.concatenate(
        [
            pixels[:BORDER].reshape(-1, 3),
            pixels[-BORDER:].reshape(-1, 3),
            pixels[BORDER:-BORDER, :BORDER].reshape(-1, 3),
            pixels[BORDER:-BORDER, -BORDER:].reshape(-1, 3),
        ]
    )
    main = np.median(border, axis=0)
    far = border[np.linalg.norm(border - main, axis=1) > TEXTURE_DISTANCE]
    colors = [main]
    if len(far) >= 0.1 * len(border):
        second = np.median(far, axis=0)
        # a texture is the same colour lighter or darker; a shape touching the border is not
        if np.linalg.norm(second - main) < FOREGROUND_DISTANCE * 1.6:
            colors.append(second)
    return colors


def _neighbour_max(values: np.ndarray) -> np.ndarray:
    """Each pixel's maximum over itself and its four neighbours."""
    padded = np.pad(values, 1, constant_values=values.min(initial=0))
    return np.maximum.reduce(
        [values, padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]]
    )


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected region of a boolean mask (all False when the mask is empty).

    Labels spread by repeated neighbour maxima inside the mask until nothing changes.
    """
    labels = np.where(mask, np.arange(1, mask.size + 1).reshape(mask.shape), 0)
    while True:
        spread = np.where(mask, _neighbour_max(labels), 0)
        if np.array_equal(spread, labels):
            break
        labels = spread
    if not mask.any():
        return np.zeros_like(mask, dtype=bool)
    values, counts = np.unique(labels[mask], return_counts=True)
    return labels == values[np.argmax(counts)]


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` plus every background pixel not 4-connected to the image border."""
    outside = ~mask
    reach = np.zeros_like(mask, dtype=bool)
    reach[0], reach[-1], reach[:, 0], reach[:, -1] = outside[0], outside[-1], outside[:, 0], outside[:, -1]
    while True:
        grown = _neighbour_max(reach) & outside
        if np.array_equal(grown, reach):
            return ~reach
        reach = grown


def erode(mask: np.ndarray) -> np.ndarray:
    """Pixels whose four neighbours are all in ``mask``."""
    padded = np.pad(mask, 1, constant_values=False)
    return (
        mask & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    )


# --------------------------------------------------------------------------------------------------
# Geometry


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def convex_hull(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Convex hull, counter-clockwise, by Andrew's monotone chain (1979)."""
    pts = sorted(set(points))
    if len(pts) <= 2:
        return pts
    lower: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and _cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[float, float]] = []
    for p in reversed(pts):
        while len(upper) >= 2 and _cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def polygon_area(polygon: Sequence[tuple[float, float]]) -> float:
    """Area of a simple polygon (shoelace formula)."""
    total = 0.0
    for (x0, y0), (x1, y1) in zip(polygon, [*polygon[1:], polygon[0]], strict=True):
        total += x0 * y1 - x1 * y0
    return abs(total) / 2


def _simplify(points: list[tuple[float, float]], tolerance: float) -> list[tuple[float, float]]:
    """Douglas-Peucker (1973) on an open polyline."""
    if len(points) < 3:
        return points
    (x0, y0), (x1, y1) = points[0], points[-1]
    length = math.hypot(x1 - x0, y1 - y0) or 1e-9
    distances = [abs((x1 - x0) * (y0 - y) - (x0 - x) * (y1 - y0)) / length for x, y in points[1:-1]]
    index = int(np.argmax(distances)) + 1
    if distances[index - 1] <= tolerance:
        return [points[0], points[-1]]
    return _simplify(points[: index + 1], tolerance)[:-1] + _simplify(points[index:], tolerance)


def corner_count(hull: list[tuple[float, float]], tolerance: float) -> int:
    """Vertices of a closed convex polygon after Douglas-Peucker simplification."""
    if len(hull) < 3:
        return len(hull)
    # split the closed outline at its two mutually farthest vertices, simplify both halves
    first = max(range(len(hull)), key=lambda i: math.dist(hull[0], hull[i]))
    a = max(range(len(hull)), key=lambda i: math.dist(hull[first], hull[i]))
    b = max(range(len(hull)), key=lambda i: math.dist(hull[a], hull[i]))
    ring = hull[a:] + hull[:a]
    split = (b - a) % len(hull)
    half1 = _simplify(ring[: split + 1], tolerance)
    half2 = _simplify([*ring[split:], ring[0]], tolerance)
    return len(half1) - 1 + len(half2) - 1


def shape_features(mask: np.ndarray) -> dict[str, float]:
    """``fill``, ``solidity``, ``mirror``, ``top``, ``corners`` and ``aspect`` of a non-empty boolean mask."""
    ys, xs = np.nonzero(mask)
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    box = mask[top:bottom, left:right]
    area = float(box.sum())
    by, bx = np.nonzero(mask & ~erode(mask))  # the hull only depends on the rim pixels
    corners = {(float(x + dx), float(y + dy)) for y, x in zip(by, bx, strict=True) for dx in (0, 1) for dy in (0, 1)}
    hull = convex_hull(list(corners))
    flipped = box[::-1]
    size = max(box.shape)
    return {
        "fill": area / box.size,
        "solidity": area / max(polygon_area(hull), 1.0),
        "mirror": float((box & flipped).sum() / max((box | flipped).sum(), 1)),
        "top": float(box[: box.shape[0] // 2].sum() + 0.5 * box[box.shape[0] // 2].sum() * (box.shape[0] % 2)) / area,
        "corners": float(corner_count(hull, 0.1 * size)),
        "aspect": box.shape[1] / box.shape[0],
    }


def shape_from_features(features: Mapping[str, float]) -> str:
    """The rules of the module docstring."""
    fill, corners = features["fill"], features["corners"]
    if features["solidity"] < 0.76:
        return "star"
    if fill > 0.88 or (corners == 4 and fill > 0.8):
        return "square"
    if features["top"] < 0.4 or corners == 3:
        return "triangle"
    if features["mirror"] < 0.75:
        return "heart"
    return "circle"


def nearest_color(rgb: Sequence[float], palette: Mapping[str, Sequence[int]] = COLORS) -> str:
    """Name of the palette colour nearest to ``rgb`` (Euclidean in RGB)."""
    return min(palette, key=lambda name: math.dist(rgb, palette[name]))


def classify(image: np.ndarray) -> Reading:
    """Classify one picture.

    Args:
        image: uint8 (or 0..255 float) RGB ``[H, W, 3]``.

    Returns:
        The :class:`Reading`; ``shape`` and ``color`` are ``"none"`` when no object stands out.
    """
    pixels = np.asarray(image, dtype=np.float32)[..., :3]
    backgrounds = background_colors(pixels)
    distance = np.min([np.linalg.norm(pixels - bg, axis=-1) for bg in backgrounds], axis=0)
    mask = fill_holes(largest_component(distance > FOREGROUND_DISTANCE))
    area = int(mask.sum())
    background = tuple(float(v) for v in backgrounds[0])
    if area < MIN_AREA:
        return Reading(NOTHING, NOTHING, background, area)  # type: ignore[arg-type]
    inner = erode(mask) & (distance > FOREGROUND_DISTANCE)
    core = inner if inner.sum() >= 8 else mask
    color = nearest_color(pixels[core].mean(axis=0))
    features = shape_features(mask)
    return Reading(color, shape_from_features(features), background, area, features)  # type: ignore[arg-type]
