"""Fixtures for the workflow tests: registries, UI documents, a base folder with tiny models, a CLI runner.

``tiny_base`` is a base folder laid out as the shipped workflows expect: the tiny random-weight SD1
checkpoint of ``tests/resources/tiny_models.py`` under the embedded model's name
(``models/checkpoints/latentloom-tiny.safetensors``), a small kohya LoRA for it under the LoRA workflow's
name, the tiny prior, decoder, cascade and CLIP folders of ``tests/cascade/tiny_stacks.py`` under the
names the dalle2-style, imagen-style and best-of-n workflows use, and ``input/example.png`` (64x64, with a
transparent square for inpainting).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nodes.cli import main
from nodes.registry import NodeRegistry, default_registry
from nodes.runtime import Runtime, Settings, build_runtime

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"
CHECKPOINT = "latentloom-tiny.safetensors"
LORA = "latentloom-tiny-style.safetensors"


@pytest.fixture(scope="session")
def registry() -> NodeRegistry:
    """The built-in node packs (no custom nodes, no entry points)."""
    reg, report = default_registry(entry_points=False)
    assert report.ok, report.summary()
    return reg


def example_png(size: int = 64, hole: bool = True) -> bytes:
    """An RGB gradient with a transparent square in the middle (the area inpainting repaints)."""
    from PIL import Image

    image = Image.new("RGBA", (size, size))
    image.putdata([(4 * x % 256, 4 * y % 256, 128, 255) for y in range(size) for x in range(size)])
    if hole:
        for y in range(size // 4, size // 2):
            for x in range(size // 4, size // 2):
                image.putpixel((x, y), (0, 0, 0, 0))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``models/`` with the tiny checkpoint and LoRA under the names the shipped workflows expect."""
    from safetensors.torch import save_file

    from tests.cascade.tiny_stacks import write_model_folders
    from tests.diffusion.lora_files import kohya_sd1
    from tests.resources.tiny_models import export_single_file

    models = tmp_path_factory.mktemp("workflow_models") / "models"
    export_single_file(models / "checkpoints" / CHECKPOINT, "sd1")
    write_model_folders(models)  # priors, decoders, cascades, clip_models for the dalle2/imagen/best-of-n files
    (models / "loras").mkdir(parents=True)
    save_file(kohya_sd1()[0], str(models / "loras" / LORA))
    return models


@pytest.fixture
def tiny_base(tiny_models_dir: Path, tmp_path: Path) -> Path:
    """A base folder for one test: the tiny models (linked), an input image, empty output."""
    base = tmp_path / "base"
    base.mkdir()
    (base / "models").symlink_to(tiny_models_dir, target_is_directory=True)
    (base / "input").mkdir()
    (base / "input" / "example.png").write_bytes(example_png())
    return base


@pytest.fixture
def make_runtime() -> Callable[..., Runtime]:
    def build(base: Path, **settings: Any) -> Runtime:
        runtime = build_runtime(Settings(base_dir=str(base), entry_points=False, disable_custom_nodes=True, **settings))
        runtime.folders.ensure()
        return runtime

    return build


CliRun = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> CliRun:
    """``cli("run", path, ...)``: (exit code, stdout, stderr) of the command line, in process."""

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def write_json(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def png_chunks(path: Path) -> dict[str, Any]:
    """The JSON text chunks of a PNG file, decoded."""
    from PIL import Image

    with Image.open(path) as image:
        return {k: json.loads(v) for k, v in image.text.items()}


def pixels(path: Path) -> list[tuple[int, int, int]]:
    """The RGB pixels of an image file, row by row."""
    from PIL import Image

    with Image.open(path) as image:
        data = image.convert("RGB").tobytes()
    return [tuple(data[i:i + 3]) for i in range(0, len(data), 3)]  # type: ignore[misc]
