"""LoadImage, LoadImageMask, SaveImage and PreviewImage against real folders, directly and through the Engine."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from graph.context import using_runtime
from graph.errors import ErrorCode
from nodes.api import GraphBuilder, spec_of
from nodes.builtin.image.load_image import load_image
from nodes.builtin.image.load_image_mask import load_image_mask
from nodes.builtin.image.save_image import save_image
from nodes.runtime import Runtime
from tests.builtin.conftest import write_png


def rgba(alpha: list[list[int]]) -> np.ndarray:
    """A small RGBA image whose colour is a ramp and whose alpha is ``alpha``."""
    a = np.array(alpha, dtype=np.uint8)
    height, width = a.shape
    rgb = np.arange(height * width * 3, dtype=np.uint8).reshape(height, width, 3) * 10
    return np.dstack([rgb, a])


def run(rt: Runtime, b: GraphBuilder, **kwargs: Any) -> Any:
    result = rt.engine.run(b.to_api(), **kwargs)
    assert result.ok, result.error
    return result


# -- SaveImage --------------------------------------------------------------------------------------


def test_save_image_through_the_engine_with_metadata(rt: Runtime) -> None:
    b = GraphBuilder()
    image = b.node("EmptyImage", width=4, height=2, batch_size=2, color=0x102030)
    save = b.node("SaveImage", images=image.out(0), filename_prefix="ComfyUI")
    workflow = {"last_node_id": 2, "nodes": [{"id": 1, "type": "EmptyImage"}]}
    result = run(rt, b, extra_data={"extra_pnginfo": {"workflow": workflow, "extra": [1, 2]}})
    images = result.ui[save.id]["images"]
    assert images == [
        {"filename": "ComfyUI_00001_.png", "subfolder": "", "type": "output"},
        {"filename": "ComfyUI_00002_.png", "subfolder": "", "type": "output"},
    ]
    with PILImage.open(rt.folders.output / "ComfyUI_00002_.png") as png:
        assert png.size == (4, 2) and png.mode == "RGB"
        assert png.getpixel((3, 1)) == (0x10, 0x20, 0x30)
        assert set(png.text) == {"prompt", "workflow", "extra"}
        assert json.loads(png.text["prompt"]) == b.to_api()
        assert json.loads(png.text["workflow"]) == workflow
        assert json.loads(png.text["extra"]) == [1, 2]


def test_save_image_counter_continues_after_existing_files(rt: Runtime) -> None:
    out = rt.folders.output
    for name in ["ComfyUI_00007_.png", "ComfyUI_00003_.png", "ComfyUIx_00020_.png", "ComfyUI_temp_abcde_00030_.png",
                 "Other_00099_.png", "ComfyUI_notes.txt"]:
        (out / name).write_bytes(b"")
    image = torch.zeros((1, 2, 2, 3))
    with using_runtime(rt):
        first = save_image(image)
        second = save_image(image, "ComfyUI")
        other = save_image(image, "fresh")
    assert first.ui["images"][0]["filename"] == "ComfyUI_00008_.png"  # type: ignore[attr-defined]
    assert second.ui["images"][0]["filename"] == "ComfyUI_00009_.png"  # type: ignore[attr-defined]
    assert other.ui["images"][0]["filename"] == "fresh_00001_.png"  # type: ignore[attr-defined]
    assert (out / "ComfyUI_00009_.png").is_file() and (out / "fresh_00001_.png").is_file()


def test_save_image_subfolders_and_variables(rt: Runtime) -> None:
    image = torch.zeros((1, 2, 3, 3))
    with using_runtime(rt):
        nested = save_image(image, "portraits/2024/face")
        again = save_image(image, "portraits/2024/face")
        sized = save_image(image, "sized/%width%x%height%")
        inside = save_image(image, "a/../b/name")  # normalised, stays inside
    assert nested.ui["images"] == [{"filename": "face_00001_.png", "subfolder": "portraits/2024", "type": "output"}]  # type: ignore[attr-defined]
    assert again.ui["images"][0]["filename"] == "face_00002_.png"  # type: ignore[attr-defined]
    assert sized.ui["images"][0]["filename"] == "3x2_00001_.png"  # type: ignore[attr-defined]
    assert inside.ui["images"][0]["subfolder"] == "b"  # type: ignore[attr-defined]
    assert (rt.folders.output / "portraits" / "2024" / "face_00002_.png").is_file()


@pytest.mark.parametrize("prefix", ["../escape", "sub/../../escape", "/tmp/escape", "..", "", "."])
def test_save_image_refuses_prefixes_leaving_the_output_folder(rt: Runtime, prefix: str) -> None:
    with using_runtime(rt), pytest.raises(ValueError, match="filename_prefix"):
        save_image(torch.zeros((1, 2, 2, 3)), prefix)
    assert not any(rt.folders.base.parent.glob("escape*")) and not any(Path("/tmp").glob("escape_000*_.png"))


def test_save_image_refuses_a_link_out_of_the_output_folder(rt: Runtime, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (rt.folders.output / "link").symlink_to(outside)
    b = GraphBuilder()
    b.node("SaveImage", images=b.node("EmptyImage", width=2, height=2).out(0), filename_prefix="link/x")
    result = rt.engine.run(b.to_api())
    assert result.status == "error" and result.error is not None
    assert result.error.type_name == "SaveImage" and "outside the output folder" in result.error.message
    assert not list(outside.iterdir())


def test_save_image_without_a_runtime_says_how_to_get_one() -> None:
    with pytest.raises(RuntimeError, match="build_runtime"):
        save_image(torch.zeros((1, 2, 2, 3)))


def test_preview_image_writes_to_temp(rt: Runtime) -> None:
    b = GraphBuilder()
    image = b.node("EmptyImage", width=2, height=2, batch_size=1, color=0xFFFFFF)
    preview = b.node("PreviewImage", images=image.out(0))
    result = run(rt, b, extra_data={"extra_pnginfo": {"workflow": {"nodes": []}}})
    [entry] = result.ui[preview.id]["images"]
    assert re.fullmatch(r"ComfyUI_temp_[a-z]{5}_00001_\.png", entry["filename"])
    assert entry["subfolder"] == "" and entry["type"] == "temp"
    with PILImage.open(rt.folders.temp / entry["filename"]) as png:
        assert png.getpixel((0, 0)) == (255, 255, 255)
        assert json.loads(png.text["prompt"]) == b.to_api() and json.loads(png.text["workflow"]) == {"nodes": []}
    assert not list(rt.folders.output.iterdir())


# -- LoadImage ----------------------------------------------------------------------------------------


def test_load_image_alpha_becomes_the_mask(rt: Runtime) -> None:
    pixels = rgba([[255, 0], [128, 64]])
    write_png(rt.folders.input / "alpha.png", pixels)
    with using_runtime(rt):
        image, mask = load_image("alpha.png")
    assert image.shape == (1, 2, 2, 3) and image.dtype == torch.float32
    assert torch.equal(image[0], torch.from_numpy(pixels[..., :3].astype(np.float32)) / 255.0)
    alpha = torch.tensor([[255, 0], [128, 64]], dtype=torch.float32) / 255.0
    assert mask.shape == (1, 2, 2) and torch.equal(mask[0], 1.0 - alpha)


def test_load_image_without_alpha_gives_a_64x64_zero_mask(rt: Runtime) -> None:
    write_png(rt.folders.input / "rgb.png", np.full((3, 5, 3), 200, dtype=np.uint8))
    palette = PILImage.new("P", (2, 2))
    palette.putpalette([0, 0, 0, 255, 0, 0])
    palette.putdata([0, 1, 1, 0])
    palette.save(rt.folders.input / "transparent.png", transparency=0)
    with using_runtime(rt):
        image, mask = load_image("rgb.png")
        _, palette_mask = load_image("transparent.png")
    assert image.shape == (1, 3, 5, 3) and torch.equal(mask, torch.zeros((1, 64, 64)))
    assert torch.equal(palette_mask, torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]))  # index 0 is transparent


def test_load_image_honours_exif_orientation(rt: Runtime) -> None:
    pixels = np.zeros((2, 4, 3), dtype=np.uint8)
    pixels[:, :2] = (255, 0, 0)  # left half red
    pixels[:, 2:] = (0, 0, 255)  # right half blue
    exif = PILImage.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    write_png(rt.folders.input / "rotated.png", pixels, exif=exif)
    with using_runtime(rt):
        image, _ = load_image("rotated.png")
    assert image.shape == (1, 4, 2, 3)  # now portrait
    assert torch.equal(image[0, :2], torch.tensor([1.0, 0.0, 0.0]).expand(2, 2, 3))  # the left edge is on top
    assert torch.equal(image[0, 2:], torch.tensor([0.0, 0.0, 1.0]).expand(2, 2, 3))


def test_load_image_frames_become_a_batch(rt: Runtime) -> None:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    frames = [PILImage.new("RGB", (4, 3), colour) for colour in colours]
    frames[0].save(rt.folders.input / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    with using_runtime(rt):
        image, mask = load_image("anim.gif")
    assert image.shape == (3, 3, 4, 3) and mask.shape == (3, 64, 64)
    for index, colour in enumerate(colours):
        assert torch.equal(image[index, 0, 0], torch.tensor(colour, dtype=torch.float32) / 255)


def test_load_image_16_bit_grey(rt: Runtime) -> None:
    PILImage.fromarray(np.array([[0, 65535]], dtype=np.uint16)).save(rt.folders.input / "deep.png")
    with using_runtime(rt):
        image, _ = load_image("deep.png")
    assert torch.equal(image[0, 0], torch.tensor([[0.0] * 3, [1.0] * 3]))


def test_load_image_mask_channels(rt: Runtime) -> None:
    pixels = rgba([[255, 0], [128, 64]])
    write_png(rt.folders.input / "m.png", pixels)
    write_png(rt.folders.input / "rgb.png", pixels[..., :3].copy())
    with using_runtime(rt):
        alpha = load_image_mask("m.png", "alpha")
        red = load_image_mask("m.png", "red")
        blue = load_image_mask("m.png", "blue")
        opaque = load_image_mask("rgb.png", "alpha")
    expected_alpha = 1.0 - torch.tensor([[255, 0], [128, 64]], dtype=torch.float32) / 255.0
    assert alpha.shape == (1, 2, 2) and torch.equal(alpha[0], expected_alpha)
    assert torch.equal(red[0], torch.from_numpy(pixels[..., 0].astype(np.float32)) / 255.0)
    assert torch.equal(blue[0], torch.from_numpy(pixels[..., 2].astype(np.float32)) / 255.0)
    assert torch.equal(opaque, torch.zeros((1, 2, 2)))  # no alpha: fully opaque


def test_load_image_fingerprint_is_the_file_sha256(rt: Runtime) -> None:
    path = write_png(rt.folders.input / "f.png", np.zeros((2, 2, 3), dtype=np.uint8))
    spec = spec_of(load_image)
    assert spec.fingerprint is not None
    with using_runtime(rt):
        before = spec.fingerprint(image="f.png")
        assert before == hashlib.sha256(path.read_bytes()).hexdigest()
        write_png(path, np.ones((2, 2, 3), dtype=np.uint8))
        after = spec.fingerprint(image="f.png")
    assert after != before and after == hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_edited_file_reruns_load_image(rt: Runtime) -> None:
    path = write_png(rt.folders.input / "f.png", np.zeros((2, 2, 3), dtype=np.uint8))
    b = GraphBuilder()
    load = b.node("LoadImage", image="f.png")
    b.node("PreviewImage", images=load.out(0))
    assert load.id in run(rt, b).executed
    assert load.id not in run(rt, b).executed  # unchanged file: served from the cache
    write_png(path, np.full((2, 2, 3), 9, dtype=np.uint8))
    assert load.id in run(rt, b).executed


def test_missing_image_fails_validation_naming_file_and_folder(rt: Runtime) -> None:
    write_png(rt.folders.input / "a.png", np.zeros((2, 2, 3), dtype=np.uint8))
    write_png(rt.folders.input / "sub" / "x.png", np.zeros((2, 2, 3), dtype=np.uint8))
    (rt.folders.input / "notes.txt").write_text("not an image")
    b = GraphBuilder()
    load = b.node("LoadImage", image="nope.png")
    b.node("PreviewImage", images=load.out(0))
    report = rt.engine.validate(b.to_api())
    [error] = report.errors
    assert error.code == ErrorCode.CUSTOM_VALIDATION_FAILED and error.node_id == load.id and error.input_name == "image"
    assert "'nope.png'" in error.message and str(rt.folders.input) in error.message
    assert "2 image(s): a.png, sub/x.png" in error.message  # the COMBO's listing, computed during validation


def test_choices_list_images_under_the_input_folder(rt: Runtime) -> None:
    for name in ["b.png", "a.jpg", "sub/x.png", "sub/deeper/y.webp", ".hidden.png", ".cache/z.png"]:
        write_png(rt.folders.input / name, np.zeros((2, 2, 3), dtype=np.uint8))
    (rt.folders.input / "notes.txt").write_text("not an image")
    expected = ["a.jpg", "b.png", "sub/deeper/y.webp", "sub/x.png"]
    b = GraphBuilder()
    b.node("PreviewImage", images=b.node("LoadImage", image="sub/x.png").out(0))
    assert rt.engine.validate(b.to_api()).ok
    with using_runtime(rt):
        assert spec_of(load_image).inputs[0].resolved_choices() == expected
        entry = rt.registry.object_info("LoadImage")["LoadImage"]["input"]["required"]["image"]
        assert entry == [expected, {"image_upload": True, "upload": "image"}]
        assert spec_of(load_image_mask).inputs[0].resolved_choices() == expected
    assert spec_of(load_image).inputs[0].resolved_choices() == []  # no runtime: nothing to list


def test_load_image_refuses_names_leaving_the_input_folder(rt: Runtime, tmp_path: Path) -> None:
    write_png(tmp_path / "secret.png", np.zeros((2, 2, 3), dtype=np.uint8))
    b = GraphBuilder()
    first = b.node("LoadImage", image="../../secret.png")
    second = b.node("LoadImage", image=str(tmp_path / "secret.png"))
    b.node("PreviewImage", images=first.out(0))
    b.node("PreviewImage", images=second.out(0))
    errors = rt.engine.validate(b.to_api()).errors
    assert [(e.node_id, e.code) for e in errors] == [(first.id, ErrorCode.CUSTOM_VALIDATION_FAILED),
                                                     (second.id, ErrorCode.CUSTOM_VALIDATION_FAILED)]
    assert "leaves the input folder" in errors[0].message and "relative" in errors[1].message


def test_annotated_names_read_other_folders(rt: Runtime) -> None:
    with using_runtime(rt):
        save_image(torch.full((1, 2, 2, 3), 1.0), "saved")
        image, _ = load_image("saved_00001_.png [output]")
    assert torch.equal(image, torch.ones((1, 2, 2, 3)))


def test_load_invert_save_end_to_end(rt: Runtime) -> None:
    pixels = rgba([[255, 0, 10], [128, 64, 200]])
    write_png(rt.folders.input / "photos" / "in.png", pixels)
    b = GraphBuilder()
    load = b.node("LoadImage", image="photos/in.png")
    invert = b.node("ImageInvert", image=load.out(0))
    save = b.node("SaveImage", images=invert.out(0), filename_prefix="out/inverted")
    result = run(rt, b)
    assert result.ui[save.id] == {"images": [{"filename": "inverted_00001_.png", "subfolder": "out", "type": "output"}]}
    assert set(result.executed) == {load.id, invert.id, save.id}
    with PILImage.open(rt.folders.output / "out" / "inverted_00001_.png") as png:
        saved = np.asarray(png)
        assert json.loads(png.text["prompt"]) == b.to_api()
    # SaveImage truncates 255 * x to uint8 (as ComfyUI does), so 1 - v/255 can land one below 255 - v.
    inverted = 1.0 - pixels[..., :3].astype(np.float32) / np.float32(255.0)
    assert np.array_equal(saved, np.clip(255.0 * inverted, 0, 255).astype(np.uint8))
    assert np.abs(saved.astype(int) - (255 - pixels[..., :3].astype(int))).max() <= 1
