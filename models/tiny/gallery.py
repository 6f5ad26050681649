"""Render the README's pictures of latentloom-tiny: a few prompts, seed 0, the shipped workflow.

    .venv/bin/python models/tiny/gallery.py            # writes docs/images/tiny-*.png, prints a Markdown table

Every prompt runs through latentloom's engine with ``workflows/txt2img.json`` unchanged except for the
prompt (seed 0, 20 steps, euler, cfg 6); pictures are shown as they come out (no seed picking), upscaled 2x
with nearest-neighbour so the 64x64 pixels stay visible.  Also writes ``docs/images/tiny-grid.png``: the
first picture of every "a <colour> <shape>" prompt of ``benchmarks/prompt_following.py`` (a row per colour,
a column per shape).
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
IMAGES = ROOT / "docs" / "images"
PROMPTS = [
    "a red star on a blue background",
    "a small green triangle in the top left corner",
    "a yellow star on a striped blue background",
    "a large white heart on a purple background",
    "an orange circle at the bottom",
    "a dotted gray background with a large black square",
]


def main() -> int:
    from PIL import Image

    spec = importlib.util.spec_from_file_location("prompt_following", ROOT / "benchmarks" / "prompt_following.py")
    assert spec is not None and spec.loader is not None
    pf = importlib.util.module_from_spec(spec)
    sys.modules["prompt_following"] = pf
    spec.loader.exec_module(pf)
    from nodes.runtime import Settings, build_runtime

    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        runtime = build_runtime(Settings(base_dir=str(ROOT), output_dir=scratch, entry_points=False, disable_custom_nodes=True))
        rows = ["| picture | prompt |", "|---|---|"]
        for n, text in enumerate(PROMPTS, 1):
            result = runtime.engine.run(pf.workflow_for(text, 0, 1, {}))
            if not result.ok:
                raise SystemExit(f"{text!r}: {result.error}")
            (image,) = [img for data in result.ui.values() for img in data.get("images", [])]
            picture = Image.open(Path(scratch) / image.get("subfolder", "") / image["filename"]).convert("RGB")
            target = IMAGES / f"tiny-{n}.png"
            picture.resize((128, 128), Image.Resampling.NEAREST).save(target, optimize=True)
            rows.append(f"| ![{text}](docs/images/{target.name}) | {text} |")
        report = pf.evaluate(pf.grid(), seeds=1, output_dir=Path(scratch) / "grid")
        pf.contact_sheet(report, Path(scratch) / "grid", IMAGES / "tiny-grid.png", scale=1)
    print("\n".join(rows))
    print(f"grid: colour {100 * report.accuracy('color'):.0f}%, shape {100 * report.accuracy('shape'):.0f}% of {len(report.outcomes)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
