"""Prompt following of latentloom-tiny: does "a red star" come out red, and a star?

    .venv/bin/python benchmarks/prompt_following.py                 # every colour x shape, 4 seeds
    .venv/bin/python benchmarks/prompt_following.py --seeds 1 --json

Every prompt ``"a <color> <shape>"`` (8 colours x 5 shapes) is generated through latentloom's engine
with the shipped workflow ``workflows/txt2img.json`` (CheckpointLoaderSimple -> CLIPTextEncode ->
KSampler -> VAEDecode -> SaveImage), changing only the prompt, the seed and, when asked, cfg / sampler /
steps.  Each saved PNG is read back and classified by ``models/tiny/classify.py`` (background from the
border, foreground colour by nearest named colour, shape by fill ratio, solidity, symmetry and corners).
Printed: colour and shape accuracy overall, per colour and per shape, and the shape confusions.
Targets: colour at least 90%, shape at least 75%.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
WORKFLOW = ROOT / "workflows" / "txt2img.json"
TINY = ROOT / "models" / "tiny"
COLOR_TARGET, SHAPE_TARGET = 0.90, 0.75


def load_tiny(name: str) -> ModuleType:
    """Import ``models/tiny/<name>.py`` by path (the folder is not a package)."""
    if str(TINY) not in sys.path:
        sys.path.insert(0, str(TINY))
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, TINY / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Outcome:
    """One generated picture and what the classifier read."""

    color: str
    shape: str
    item: int
    got_color: str
    got_shape: str
    file: str


@dataclass
class Report:
    """All outcomes, with accuracies by colour and by shape."""

    outcomes: list[Outcome] = field(default_factory=list)

    def accuracy(self, what: str, key: str | None = None) -> float:
        rows = [o for o in self.outcomes if key is None or key in (o.color, o.shape)]
        hits = sum(getattr(o, what) == getattr(o, "got_" + what) for o in rows)
        return hits / max(1, len(rows))

    def by(self, attribute: str, what: str) -> dict[str, float]:
        keys = list(dict.fromkeys(getattr(o, attribute) for o in self.outcomes))
        return {k: self.accuracy(what, k) for k in keys}

    def confusions(self) -> Counter[tuple[str, str]]:
        return Counter((o.shape, o.got_shape) for o in self.outcomes if o.shape != o.got_shape)

    def to_json(self) -> dict[str, Any]:
        return {
            "images": len(self.outcomes),
            "color_accuracy": self.accuracy("color"),
            "shape_accuracy": self.accuracy("shape"),
            "color_by_color": self.by("color", "color"),
            "shape_by_shape": self.by("shape", "shape"),
            "shape_confusions": {f"{a}->{b}": n for (a, b), n in self.confusions().most_common()},
        }


def grid(colors: Sequence[str] | None = None, shapes: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """Every ``(color, shape)`` pair of the data set (or of the given subsets)."""
    dataset = load_tiny("dataset")
    return [(c, s) for c in (colors or dataset.COLORS) for s in (shapes or dataset.SHAPES)]


def api_graph(doc: dict[str, Any]) -> dict[str, Any]:
    """The API-format graph of a workflow file (a ``latentloom-workflow/1`` file keeps it under ``prompt``)."""
    return doc["prompt"] if str(doc.get("format", "")).startswith("latentloom-workflow/") else doc


def workflow_for(text: str, seed: int, batch: int, knobs: dict[str, Any]) -> dict[str, Any]:
    """The graph of ``workflows/txt2img.json`` with the prompt, seed, batch size and sampler knobs replaced."""
    doc = api_graph(json.loads(WORKFLOW.read_text()))
    by_title = {node.get("_meta", {}).get("title"): node for node in doc.values()}
    by_title["Prompt"]["inputs"]["text"] = text
    by_title["Sampler"]["inputs"].update(seed=seed, **knobs)
    by_title["Size"]["inputs"]["batch_size"] = batch
    return doc


def evaluate(
    pairs: Sequence[tuple[str, str]],
    seeds: int = 4,
    *,
    base_dir: Path = ROOT,
    output_dir: Path | None = None,
    knobs: dict[str, Any] | None = None,
    first_seed: int = 0,
    progress: bool = False,
) -> Report:
    """Generate ``seeds`` pictures per pair and classify them.

    The ``i``-th pair is one KSampler run of batch ``seeds`` with seed ``first_seed + i`` (so prompts do
    not share their noise), and ComfyUI draws the batch items' noise in turn from that seed.

    Args:
        pairs: ``(color, shape)`` to prompt as ``"a <color> <shape>"``.
        seeds: pictures per prompt (the batch size of its run).
        base_dir: latentloom base folder holding ``models/checkpoints/latentloom-tiny.safetensors``.
        output_dir: where the PNGs go (default: a temporary folder, deleted afterwards).
        knobs: KSampler inputs to change (``cfg``, ``steps``, ``sampler_name``, ``scheduler``).
    """
    import numpy as np
    from PIL import Image

    from nodes.runtime import Settings, build_runtime

    dataset, classify = load_tiny("dataset"), load_tiny("classify")
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(output_dir or scratch)
        runtime = build_runtime(Settings(base_dir=str(base_dir), output_dir=str(out), entry_points=False, disable_custom_nodes=True))
        report = Report()
        for i, (color, shape) in enumerate(pairs):
            doc = workflow_for(dataset.prompt(color, shape), first_seed + i, seeds, dict(knobs or {}))
            result = runtime.engine.run(doc)
            if not result.ok:
                raise RuntimeError(f"{dataset.prompt(color, shape)!r}: {result.error}")
            images = [img for data in result.ui.values() for img in data.get("images", [])]
            for item, image in enumerate(images):
                path = out / image.get("subfolder", "") / image["filename"]
                reading = classify.classify(np.asarray(Image.open(path).convert("RGB")))
                report.outcomes.append(Outcome(color, shape, item, reading.color, reading.shape, path.name))
            if progress:
                print(f"\r{i + 1}/{len(pairs)} prompts", end="", file=sys.stderr, flush=True)
        if progress:
            print(file=sys.stderr)
    return report


def contact_sheet(report: Report, folder: Path, path: Path, scale: int = 2) -> Path:
    """Save the first picture of every prompt as a grid: a row per colour, a column per shape."""
    from PIL import Image

    colors = list(dict.fromkeys(o.color for o in report.outcomes))
    shapes = list(dict.fromkeys(o.shape for o in report.outcomes))
    size = 64 * scale
    sheet = Image.new("RGB", (size * len(shapes), size * len(colors)), (255, 255, 255))
    for o in report.outcomes:
        if o.item == 0:
            picture = Image.open(folder / o.file).convert("RGB").resize((size, size), Image.Resampling.NEAREST)
            sheet.paste(picture, (shapes.index(o.shape) * size, colors.index(o.color) * size))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def print_report(report: Report) -> None:
    color, shape = report.accuracy("color"), report.accuracy("shape")
    print(f"{len(report.outcomes)} images")
    print(f"color accuracy {100 * color:5.1f}%  (target {100 * COLOR_TARGET:.0f}%)")
    print(f"shape accuracy {100 * shape:5.1f}%  (target {100 * SHAPE_TARGET:.0f}%)")
    print("per colour: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in report.by("color", "color").items()))
    print("per shape:  " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in report.by("shape", "shape").items()))
    confusions = report.confusions()
    if confusions:
        print("shape confusions: " + ", ".join(f"{a}->{b} {n}" for (a, b), n in confusions.most_common()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=4, help="pictures per prompt (default 4)")
    parser.add_argument("--cfg", type=float, help="override the workflow's cfg")
    parser.add_argument("--steps", type=int, help="override the workflow's steps")
    parser.add_argument("--sampler", help="override the workflow's sampler_name")
    parser.add_argument("--scheduler", help="override the workflow's scheduler")
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first prompt's run (default 0)")
    parser.add_argument("--base-dir", type=Path, default=ROOT, help="base folder with models/checkpoints")
    parser.add_argument("--output-dir", type=Path, help="keep the PNGs here")
    parser.add_argument("--grid", type=Path, help="also save the first picture of each prompt as one grid PNG")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    knobs = {"cfg": args.cfg, "steps": args.steps, "sampler_name": args.sampler, "scheduler": args.scheduler}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        output = args.output_dir or Path(scratch)
        report = evaluate(
            grid(), args.seeds, base_dir=args.base_dir, output_dir=output,
            knobs={k: v for k, v in knobs.items() if v is not None}, first_seed=args.first_seed, progress=not args.json,
        )
        if args.grid:
            contact_sheet(report, output, args.grid)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print_report(report)
        print(f"({time.perf_counter() - started:.0f} s)")
    ok = report.accuracy("color") >= COLOR_TARGET and report.accuracy("shape") >= SHAPE_TARGET
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
