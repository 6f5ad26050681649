"""Fixtures for the built-in packs: a real runtime on a temporary base folder, and PNG writers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nodes.runtime import Runtime, Settings, build_runtime


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    """A runtime (folders, default registry, engine) whose base folder is ``tmp_path / "base"``."""
    runtime = build_runtime(Settings(base_dir=str(tmp_path / "base"), entry_points=False, disable_custom_nodes=True))
    runtime.folders.ensure()
    return runtime


def write_png(path: Path, pixels: Any, **save: Any) -> Path:
    """Write a uint8 array ``[H, W]``, ``[H, W, 3]`` or ``[H, W, 4]`` as a PNG (folders created)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **save)
    return path
