"""The procedural data set: coverage of the vocabulary, determinism, drawing and captions."""

from __future__ import annotations

from collections import Counter
from types import ModuleType

import numpy as np
import pytest


def test_the_vocabulary_meets_the_brief(dataset: ModuleType) -> None:
    assert len(dataset.SHAPES) >= 5 and len(dataset.COLORS) >= 8
    assert {"left", "right", "top", "bottom", "center"} <= set(dataset.POSITIONS)
    assert set(dataset.SIZES) == {"small", "large"}
    assert "plain" in dataset.TEXTURES and len(dataset.TEXTURES) > 1


def test_scenes_are_a_pure_function_of_the_seed(dataset: ModuleType) -> None:
    a, b = dataset.make_scenes(50, seed=7), dataset.make_scenes(50, seed=7)
    assert a == b
    assert a != dataset.make_scenes(50, seed=8)
    assert np.array_equal(dataset.render_all(a), dataset.render_all(b))


def test_every_attribute_value_is_drawn(dataset: ModuleType) -> None:
    scenes = dataset.make_scenes(2000, seed=0)
    for name, table in (("shape", dataset.SHAPES), ("color", dataset.COLORS), ("texture", dataset.TEXTURES),
                        ("position", dataset.POSITIONS), ("size", dataset.SIZES)):
        assert set(Counter(getattr(s, name) for s in scenes)) == set(table), name


def test_backgrounds_stand_out_from_the_shape(dataset: ModuleType) -> None:
    for scene in dataset.make_scenes(500, seed=1):
        assert scene.background != scene.color
        assert dataset.contrast(dataset.BACKGROUNDS[scene.background], dataset.COLORS[scene.color]) >= dataset.MIN_CONTRAST


def test_render_draws_the_shape_in_its_colour_at_its_place(dataset: ModuleType) -> None:
    scene = dataset.Scene("square", "red", "blue", "plain", "top left", "small")
    image = dataset.render(scene)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    cx, cy, side = dataset.shape_center(scene)
    assert cx < 32 and cy < 32
    assert tuple(image[int(cy), int(cx)]) == dataset.COLORS["red"]
    assert tuple(image[-1, -1]) == dataset.BACKGROUNDS["blue"]
    mask = dataset.shape_mask(scene)
    assert mask[0].max() == 0 and mask[:, 0].max() == 0  # the margin keeps shapes off the edge


@pytest.mark.parametrize("size", ["small", "large"])
@pytest.mark.parametrize("position", ["top left", "bottom right", "left", "center"])
def test_shapes_stay_inside_the_image(dataset: ModuleType, size: str, position: str) -> None:
    for shape in dataset.SHAPES:
        scene = dataset.Scene(shape, "red", "blue", "plain", position, size, jitter=(2.5, -2.5, 1.1))
        mask = dataset.shape_mask(scene)
        edge = np.concatenate([mask[:2].ravel(), mask[-2:].ravel(), mask[:, :2].ravel(), mask[:, -2:].ravel()])
        assert edge.max() == 0, (shape, position, size)


def test_textures_are_low_contrast_patterns_of_the_background(dataset: ModuleType) -> None:
    for texture in dataset.TEXTURES[1:]:
        scene = dataset.Scene("circle", "red", "white", texture, "center", "small", texture_phase=(8, 0, 0))
        colors = {tuple(c) for c in dataset.background_image(scene).reshape(-1, 3).astype(int)}
        assert len(colors) == 2, texture
        assert all(dataset.contrast(c, dataset.BACKGROUNDS["white"]) < 60 for c in colors)


def test_captions_name_colour_and_shape_and_vary(dataset: ModuleType) -> None:
    rng = np.random.default_rng(0)
    scene = dataset.Scene("triangle", "green", "orange", "striped", "top left", "small")
    captions = {dataset.caption(scene, rng) for _ in range(300)}
    assert len(captions) > 30
    assert all("green triangle" in c for c in captions)
    assert "a small green triangle in the top left corner" in captions
    assert any("striped orange background" in c for c in captions)
    assert any(c == "green triangle" for c in captions)


def test_articles_and_prompts(dataset: ModuleType) -> None:
    assert dataset.prompt("orange", "star") == "an orange star"
    assert dataset.prompt("red", "circle") == "a red circle"


def test_fixing_an_unknown_attribute_is_an_error(dataset: ModuleType) -> None:
    rng = np.random.default_rng(0)
    assert dataset.random_scene(rng, shape="heart", color="blue").shape == "heart"
    with pytest.raises(ValueError, match="cannot fix"):
        dataset.random_scene(rng, angle="45")
    with pytest.raises(ValueError, match="is not one of"):
        dataset.random_scene(rng, shape="hexagon")
