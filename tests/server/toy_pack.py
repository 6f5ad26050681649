"""Toy node pack for the server tests, written with the native API (no torch, no models).

It is imported directly by in-process tests and copied into a ``custom_nodes`` folder by the tests and the
benchmark that start a server process.

===============  ===========================================================================================
SaveToyImage     output node: writes an 8x8 PNG (grey level ``value``) to output/<subfolder>, with the prompt
                 in its text chunks, and returns ``ui {"images": [{"filename", "subfolder", "type"}]}``.
PreviewToyImage  the same into temp/ (``type: "temp"``), as previews do.
ProgressToy      reports ``steps`` progress updates, each with a PIL preview image, then returns ``value``.
SleepToy         sleeps ``seconds`` in 20 ms slices, reporting progress and checking for interrupts.
FailToy          raises ``RuntimeError(message)``.
===============  ===========================================================================================
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Annotated, Any

from graph.context import check_interrupt, progress, runtime
from nodes.api import AnyType, Hidden, Range, Result, node


def _next_name(folder: Path, prefix: str) -> str:
    pattern = re.compile(re.escape(prefix) + r"_(\d{5})_\.png$")
    used = [int(m.group(1)) for p in folder.glob(f"{prefix}_*_.png") if (m := pattern.match(p.name))]
    return f"{prefix}_{max(used, default=0) + 1:05d}_.png"


def _write(kind: str, value: int, prefix: str, subfolder: str, prompt: Any) -> dict[str, str]:
    from PIL import Image, PngImagePlugin

    base = runtime().folders.folder(kind)
    folder = base / subfolder if subfolder else base
    folder.mkdir(parents=True, exist_ok=True)
    name = _next_name(folder, prefix)
    info = PngImagePlugin.PngInfo()
    if prompt is not None:
        info.add_text("prompt", json.dumps(prompt))
    Image.new("RGB", (8, 8), (value % 256,) * 3).save(folder / name, pnginfo=info)
    return {"filename": name, "subfolder": subfolder, "type": kind}


@node("SaveToyImage", output=True, category="toy")
def save_toy_image(
    value: Annotated[int, Range(0, 255)] = 128,
    filename_prefix: str = "toy",
    subfolder: str = "",
    prompt: Annotated[Any, Hidden("PROMPT")] = None,
) -> None:
    """Write a small grey PNG into the output folder."""
    return Result(ui={"images": [_write("output", value, filename_prefix, subfolder, prompt)]})  # type: ignore[return-value]


@node("PreviewToyImage", output=True, category="toy")
def preview_toy_image(value: Annotated[int, Range(0, 255)] = 64, prompt: Annotated[Any, Hidden("PROMPT")] = None) -> None:
    """Write a small grey PNG into the temp folder."""
    return Result(ui={"images": [_write("temp", value, "preview", "", prompt)]})  # type: ignore[return-value]


@node("ProgressToy", category="toy")
def progress_toy(value: int = 0, steps: Annotated[int, Range(1, 1000)] = 3) -> int:
    """Report ``steps`` progress updates with a preview image each."""
    from PIL import Image

    for step in range(1, steps + 1):
        progress(step, steps, Image.new("RGB", (16, 16), (step * 40 % 256, 0, 0)))
    return value


@node("SleepToy", category="toy")
def sleep_toy(value: AnyType = 0, seconds: float = 1.0) -> AnyType:
    """Sleep, reporting progress and honouring interrupts every 20 ms."""
    end = time.monotonic() + seconds
    slices = max(int(seconds / 0.02), 1)
    for i in range(slices):
        check_interrupt()
        time.sleep(max(min(0.02, end - time.monotonic()), 0))
        progress(i + 1, slices)
    return value


@node("FailToy", category="toy")
def fail_toy(value: AnyType = 0, message: str = "toy failure") -> AnyType:
    """Raise RuntimeError(message)."""
    raise RuntimeError(message)


LATENTLOOM_NODES = [save_toy_image, preview_toy_image, progress_toy, sleep_toy, fail_toy]
