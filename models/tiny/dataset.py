"""A procedural data set of captioned 64x64 scenes: one coloured shape on a plain or textured background.

Every image is drawn from a :class:`Scene`, a frozen record of what it shows:

* ``shape``: one of :data:`SHAPES` (circle, square, triangle, star, heart), upright;
* ``color``: one of the eight :data:`COLORS`;
* ``background``: one of :data:`BACKGROUNDS` (the eight colours and gray), never too close to ``color``
  (:data:`MIN_CONTRAST`, so that the shape always stands out);
* ``texture``: ``plain`` or a low-contrast ``striped`` / ``checkered`` / ``dotted`` pattern of the
  background colour (:data:`TEXTURES`);
* ``position``: one of :data:`POSITIONS` (center, left, right, top, bottom and the four corners), the
  shape's centre placed so that the shape keeps a margin to the image edge;
* ``size``: ``small`` (about a third of the image) or ``large`` (about three fifths).

Shapes are drawn four times larger and box-filtered down (anti-aliased edges).  A caption is drawn
independently each time a scene is used (:func:`caption`): colour and shape are always named; size,
position and background each appear half of the time, in one of several templates ("a red circle on a
blue background", "a small green triangle in the top left corner", "blue background, large yellow
star", ...).  Everything is a pure function of a ``numpy.random.Generator``, so a seed fixes the data.

Importing this module needs numpy and pillow only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64
SUPERSAMPLE = 4

#: Foreground colours (sRGB 0..255): the colour words a prompt may use.
COLORS: Mapping[str, tuple[int, int, int]] = {
    "red": (220, 30, 40),
    "orange": (250, 140, 20),
    "yellow": (245, 225, 40),
    "green": (40, 170, 60),
    "blue": (30, 80, 230),
    "purple": (130, 50, 180),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
#: Background colours: the foreground colours and gray.
BACKGROUNDS: Mapping[str, tuple[int, int, int]] = {**COLORS, "gray": (128, 128, 128)}
SHAPES = ("circle", "square", "triangle", "star", "heart")
TEXTURES = ("plain", "striped", "checkered", "dotted")
TEXTURE_WEIGHTS = (0.55, 0.15, 0.15, 0.15)
#: Position name -> (x, y) in -1..1 of the free range (the shape's centre keeps it inside the image).
POSITIONS: Mapping[str, tuple[float, float]] = {
    "center": (0.0, 0.0),
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "top": (0.0, -1.0),
    "bottom": (0.0, 1.0),
    "top left": (-1.0, -1.0),
    "top right": (1.0, -1.0),
    "bottom left": (-1.0, 1.0),
    "bottom right": (1.0, 1.0),
}
#: Size name -> side of the shape's bounding box as a fraction of the image.
SIZES: Mapping[str, float] = {"small": 0.36, "large": 0.62}
MARGIN = 4  # pixels kept free between a shape and the image edge
MIN_CONTRAST = 110.0  # smallest RGB distance between a shape's colour and its background
TEXTURE_CONTRAST = 0.12  # a texture mixes this much white (dark colours) or black (light ones) in

Texture = Literal["plain", "striped", "checkered", "dotted"]


@dataclass(frozen=True)
class Scene:
    """What one image shows; :func:`render` draws it, :func:`caption` describes it.

    Attributes:
        shape, color, background, texture, position, size: names from the module's tables.
        jitter: ``(dx, dy, scale)``: offsets in pixels and a size factor that vary the layout a little.
        texture_phase: ``(period, offset, orientation)`` of the texture pattern.
    """

    shape: str
    color: str
    background: str
    texture: str
    position: str
    size: str
    jitter: tuple[float, float, float] = (0.0, 0.0, 1.0)
    texture_phase: tuple[int, int, int] = (8, 0, 0)


def contrast(a: Sequence[float], b: Sequence[float]) -> float:
    """Euclidean distance between two RGB colours (0..255 scale)."""
    return float(math.dist(a, b))


def allowed_backgrounds(color: str) -> list[str]:
    """Background names that stand out enough from foreground ``color`` (:data:`MIN_CONTRAST`)."""
    return [b for b, rgb in BACKGROUNDS.items() if b != color and contrast(rgb, COLORS[color]) >= MIN_CONTRAST]


def random_scene(rng: np.random.Generator, **fixed: str) -> Scene:
    """Draw a scene uniformly over shapes, colours, positions and sizes; textures per :data:`TEXTURE_WEIGHTS`.

    Args:
        rng: the source of randomness.
        fixed: attribute names of :class:`Scene` to force (``shape="star"``, ``background="blue"`` ...).

    Raises:
        ValueError: an unknown attribute or value, or a background too close to the colour.
    """
    unknown = set(fixed) - {"shape", "color", "background", "texture", "position", "size"}
    if unknown:
        raise ValueError(f"cannot fix {sorted(unknown)}; fix shape, color, background, texture, position or size")
    shape = fixed.get("shape") or SHAPES[rng.integers(len(SHAPES))]
    color = fixed.get("color") or list(COLORS)[rng.integers(len(COLORS))]
    backgrounds = allowed_backgrounds(color)
    background = fixed.get("background") or backgrounds[rng.integers(len(backgrounds))]
    texture = fixed.get("texture") or TEXTURES[rng.choice(len(TEXTURES), p=TEXTURE_WEIGHTS)]
    position = fixed.get("position") or list(POSITIONS)[rng.integers(len(POSITIONS))]
    size = fixed.get("size") or list(SIZES)[rng.integers(len(SIZES))]
    checks = ((shape, SHAPES), (color, COLORS), (background, backgrounds), (texture, TEXTURES))
    for value, table in (*checks, (position, POSITIONS), (size, SIZES)):
        if value not in table:
            raise ValueError(f"{value!r} is not one of {list(table)}")
    jitter = (float(rng.uniform(-2.5, 2.5)), float(rng.uniform(-2.5, 2.5)), float(rng.uniform(0.9, 1.1)))
    phase = (int(rng.choice([6, 8, 10, 12])), int(rng.integers(0, 12)), int(rng.integers(0, 3)))
    return Scene(shape, color, background, texture, position, size, jitter, phase)


# --------------------------------------------------------------------------------------------------
# Drawing


def shape_polygon(shape: str, cx: float, cy: float, side: float) -> list[tuple[float, float]] | None:
    """Outline of ``shape`` inside a ``side``-wide box centred at ``(cx, cy)``; ``None`` for the circle.

    Raises:
        ValueError: an unknown shape.
    """
    r = side / 2
    if shape == "circle":
        return None
    if shape == "square":
        h = r * 0.86  # same visual weight as the circle
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    if shape == "triangle":  # isosceles, apex up, base as wide as the box is tall
        return [(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if shape == "star":  # five points, the first straight up, inner radius 0.45
        points = []
        for k in range(10):
            radius = r if k % 2 == 0 else r * 0.45
            angle = -math.pi / 2 + k * math.pi / 5
            points.append((cx + radius * math.cos(angle), cy + 0.08 * r + radius * math.sin(angle)))
        return points
    if shape == "heart":  # the classic parametric heart, scaled to the box
        points = []
        for k in range(64):
            t = 2 * math.pi * k / 64
            x = 16 * math.sin(t) ** 3
            y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
            points.append((cx + r * x / 16.5, cy - r * (y + 2.5) / 15.0))
        return points
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


def shape_center(scene: Scene) -> tuple[float, float, float]:
    """``(cx, cy, side)`` of the scene's shape in image pixels."""
    side = SIZES[scene.size] * SIZE * scene.jitter[2]
    free = SIZE / 2 - MARGIN - side / 2  # how far the centre may move from the image centre
    px, py = POSITIONS[scene.position]
    cx = SIZE / 2 + px * free + (scene.jitter[0] if px == 0 else -abs(scene.jitter[0]) * px)
    cy = SIZE / 2 + py * free + (scene.jitter[1] if py == 0 else -abs(scene.jitter[1]) * py)
    return cx, cy, side


def shape_mask(scene: Scene) -> np.ndarray:
    """Coverage of the shape per pixel, float32 ``[64, 64]`` in 0..1 (anti-aliased)."""
    big = SIZE * SUPERSAMPLE
    cx, cy, side = (v * SUPERSAMPLE for v in shape_center(scene))
    layer = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(layer)
    polygon = shape_polygon(scene.shape, cx, cy, side)
    if polygon is None:
        r = side / 2
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
    else:
        draw.polygon(polygon, fill=255)
    small = layer.resize((SIZE, SIZE), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def texture_shade(rgb: Sequence[int]) -> np.ndarray:
    """The second colour of a texture: the background mixed with white (dark) or black (light)."""
    base = np.asarray(rgb, dtype=np.float32)
    target = 255.0 if base.mean() < 100 else 0.0
    return base + (target - base) * TEXTURE_CONTRAST


def background_image(scene: Scene) -> np.ndarray:
    """The background, float32 ``[64, 64, 3]`` in 0..255."""
    base = np.asarray(BACKGROUNDS[scene.background], dtype=np.float32)
    image = np.broadcast_to(base, (SIZE, SIZE, 3)).copy()
    if scene.texture == "plain":
        return image
    period, offset, orientation = scene.texture_phase
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    if scene.texture == "striped":
        coordinate = (x, y, x + y)[orientation]
        pattern = ((coordinate + offset) // (period // 2)) % 2 == 1
    elif scene.texture == "checkered":
        pattern = (((x + offset) // period + (y + offset) // period) % 2) == 1
    elif scene.texture == "dotted":
        dx = (x + offset) % period - period / 2 + 0.5
        dy = (y + offset) % period - period / 2 + 0.5
        pattern = dx * dx + dy * dy <= (period / 4) ** 2 + 0.5
    else:
        raise ValueError(f"unknown texture {scene.texture!r}; expected one of {TEXTURES}")
    image[pattern] = texture_shade(base)
    return image


def render(scene: Scene) -> np.ndarray:
    """Draw a scene: uint8 ``[64, 64, 3]``."""
    alpha = shape_mask(scene)[..., None]
    foreground = np.asarray(COLORS[scene.color], dtype=np.float32)
    image = background_image(scene) * (1.0 - alpha) + foreground * alpha
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------------
# Captions

_POSITION_PHRASES: Mapping[str, tuple[str, ...]] = {
    "center": ("in the center", "in the middle"),
    "left": ("on the left", "on the left side"),
    "right": ("on the right", "on the right side"),
    "top": ("at the top", "at the top of the image"),
    "bottom": ("at the bottom", "at the bottom of the image"),
    **{
        corner: (f"in the {corner} corner", f"in the {corner}")
        for corner in ("top left", "top right", "bottom left", "bottom right")
    },
}


def article(word: str) -> str:
    """``"an"`` before a vowel sound, else ``"a"``."""
    return "an" if word[:1] in "aeiou" else "a"


def background_phrase(scene: Scene, rng: np.random.Generator) -> str:
    """``"blue"``, ``"striped blue"`` ... (the texture is named for most textured backgrounds)."""
    if scene.texture != "plain" and rng.random() < 0.8:
        return f"{scene.texture} {scene.background}"
    return scene.background


def caption(scene: Scene, rng: np.random.Generator) -> str:
    """One caption for ``scene`` from varied templates; colour and shape are always named.

    Size, position and background are each mentioned with probability one half.
    """
    size = f"{scene.size} " if rng.random() < 0.5 else ""
    where = _POSITION_PHRASES[scene.position][rng.integers(2)] if rng.random() < 0.5 else ""
    ground = background_phrase(scene, rng) if rng.random() < 0.5 else ""
    thing = f"{size}{scene.color} {scene.shape}"
    a_thing = f"{article(thing)} {thing}"
    # templates naming the background first are rarer: with CLIP's causal attention their colour word
    # cannot see the "background" that follows it
    template = int(rng.choice(4, p=(0.45, 0.35, 0.1, 0.1))) if ground else int(rng.integers(2))
    if template == 0:
        text = a_thing + (f" {where}" if where else "") + (f" on {article(ground)} {ground} background" if ground else "")
    elif template == 1:
        text = ("a picture of " + a_thing if rng.random() < 0.3 else thing) + (f" {where}" if where else "")
        text += f", {ground} background" if ground else ""
    elif template == 2:
        text = f"{ground} background, {thing}" + (f" {where}" if where else "")
    else:
        text = f"{article(ground)} {ground} background with {a_thing}" + (f" {where}" if where else "")
    return text


def prompt(color: str, shape: str) -> str:
    """The evaluation prompt for a colour and a shape: ``"a red circle"``."""
    return f"{article(color)} {color} {shape}"


# --------------------------------------------------------------------------------------------------
# Batches


def make_scenes(count: int, seed: int) -> list[Scene]:
    """``count`` random scenes, a pure function of ``seed``."""
    rng = np.random.default_rng(seed)
    return [random_scene(rng) for _ in range(count)]


def render_all(scenes: Sequence[Scene]) -> np.ndarray:
    """Images of ``scenes``: uint8 ``[N, 64, 64, 3]``."""
    out = np.empty((len(scenes), SIZE, SIZE, 3), dtype=np.uint8)
    for i, scene in enumerate(scenes):
        out[i] = render(scene)
    return out
