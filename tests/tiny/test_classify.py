"""The picture classifier on ground truth: the data set's own images must read back (almost) perfectly."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest


@pytest.fixture(scope="module")
def truth(dataset: ModuleType) -> tuple[list, np.ndarray]:
    scenes = dataset.make_scenes(400, seed=2024)
    return scenes, dataset.render_all(scenes)


def test_clean_images_read_back_exactly(truth: tuple[list, np.ndarray], classify: ModuleType) -> None:
    scenes, images = truth
    readings = [classify.classify(image) for image in images]
    colors = np.mean([r.color == s.color for r, s in zip(readings, scenes, strict=True)])
    shapes = np.mean([r.shape == s.shape for r, s in zip(readings, scenes, strict=True)])
    assert colors >= 0.995 and shapes >= 0.99, (colors, shapes)


def test_mild_noise_and_blur_do_not_change_the_reading(truth: tuple[list, np.ndarray], classify: ModuleType) -> None:
    """Generated pictures are never clean: blur by a 3x3 box and add noise of 8 levels."""
    scenes, images = truth
    rng = np.random.default_rng(0)
    hits = [0, 0]
    for scene, image in zip(scenes[:150], images[:150], strict=True):
        x = image.astype(np.float32)
        padded = np.pad(x, ((1, 1), (1, 1), (0, 0)), mode="edge")
        blurred = sum(padded[dy : dy + 64, dx : dx + 64] for dy in range(3) for dx in range(3)) / 9
        noisy = np.clip(blurred + rng.normal(0, 8, blurred.shape), 0, 255).astype(np.uint8)
        reading = classify.classify(noisy)
        hits[0] += reading.color == scene.color
        hits[1] += reading.shape == scene.shape
    assert hits[0] >= 148 and hits[1] >= 140, hits


def test_features_sit_far_from_the_thresholds(dataset: ModuleType, classify: ModuleType) -> None:
    expected = {"circle": (0.75, 0.85, 0.9), "square": (0.95, 1.01, 0.95), "triangle": (0.45, 0.6, 0.3),
                "star": (0.35, 0.5, 0.4), "heart": (0.55, 0.7, 0.35)}
    for shape, (low, high, mirror) in expected.items():
        scene = dataset.Scene(shape, "red", "blue", "plain", "center", "large")
        features = classify.shape_features(dataset.shape_mask(scene) > 0.5)
        assert low <= features["fill"] <= high, (shape, features)
        assert features["mirror"] >= mirror - 0.1, (shape, features)
    star = classify.shape_features(dataset.shape_mask(dataset.Scene("star", "red", "blue", "plain", "center", "large")) > 0.5)
    assert star["solidity"] < 0.7 and star["corners"] == 5
    square = classify.shape_features(dataset.shape_mask(dataset.Scene("square", "red", "blue", "plain", "center", "small")) > 0.5)
    assert square["corners"] == 4


def test_an_empty_picture_shows_nothing(classify: ModuleType) -> None:
    plain = np.full((64, 64, 3), 128, dtype=np.uint8)
    reading = classify.classify(plain)
    assert (reading.color, reading.shape, reading.area) == ("none", "none", 0)


def test_textured_backgrounds_are_not_foreground(dataset: ModuleType, classify: ModuleType) -> None:
    for texture in dataset.TEXTURES:
        for background in ("white", "black", "yellow", "gray"):
            scene = dataset.Scene("heart", "blue" if background != "blue" else "red", background, texture, "right", "small")
            reading = classify.classify(dataset.render(scene))
            assert (reading.color, reading.shape) == (scene.color, "heart"), (texture, background, reading)


def test_geometry_helpers(classify: ModuleType) -> None:
    square = [(0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0)]
    assert classify.polygon_area(square) == 4.0
    assert sorted(classify.convex_hull([*square, (1.0, 1.0)])) == sorted(square)
    mask = np.zeros((10, 10), dtype=bool)
    mask[2:5, 2:5] = True
    mask[7:9, 7:9] = True
    assert classify.largest_component(mask).sum() == 9
    ring = np.zeros((10, 10), dtype=bool)
    ring[2:8, 2:8] = True
    ring[4:6, 4:6] = False
    assert classify.fill_holes(ring).sum() == 36
    assert classify.nearest_color((250, 10, 10)) == "red"
