"""The image, latent and conditioning packs as a whole: ComfyUI's names, inputs and outputs, the registry,
import hygiene (torch-free registry, one node per file importing only nodes.api) and the marked copies."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from graph.spec import MISSING, NodeSpec
from nodes.api import spec_of
from nodes.builtin import BUILTIN_PACKS
from nodes.registry import default_registry

ROOT = Path(__file__).resolve().parents[2]
PACKS = ("nodes.builtin.image", "nodes.builtin.latent", "nodes.builtin.conditioning")
PACK_FILES = sorted(f for pack in PACKS for f in (ROOT / pack.replace(".", "/")).glob("*.py") if f.name != "__init__.py")

UPSCALE = ["nearest-exact", "bilinear", "area", "bicubic"]
CROP = ["disabled", "center"]
R = 16384

# type name -> (category, output node, [(input, type, default, min, max, choices)], [(output name, type)])
EXPECTED: dict[str, tuple[str, bool, list[tuple[Any, ...]], list[tuple[str, str]]]] = {
    "LoadImage": ("image", False, [("image", "COMBO", MISSING, None, None, None)], [("IMAGE", "IMAGE"), ("MASK", "MASK")]),
    "LoadImageMask": ("mask", False, [("image", "COMBO", MISSING, None, None, None),
                                      ("channel", "COMBO", "alpha", None, None, ["alpha", "red", "green", "blue"])],
                      [("MASK", "MASK")]),
    "SaveImage": ("image", True, [("images", "IMAGE", MISSING, None, None, None),
                                  ("filename_prefix", "STRING", "ComfyUI", None, None, None)], []),
    "PreviewImage": ("image", True, [("images", "IMAGE", MISSING, None, None, None)], []),
    "ImageScale": ("image/upscaling", False, [
        ("image", "IMAGE", MISSING, None, None, None),
        ("upscale_method", "COMBO", "nearest-exact", None, None, UPSCALE + ["lanczos"]),
        ("width", "INT", 512, 0, R, None), ("height", "INT", 512, 0, R, None),
        ("crop", "COMBO", "disabled", None, None, CROP)], [("IMAGE", "IMAGE")]),
    "ImageScaleBy": ("image/upscaling", False, [
        ("image", "IMAGE", MISSING, None, None, None),
        ("upscale_method", "COMBO", "nearest-exact", None, None, UPSCALE + ["lanczos"]),
        ("scale_by", "FLOAT", 1.0, 0.01, 8.0, None)], [("IMAGE", "IMAGE")]),
    "ImageInvert": ("image", False, [("image", "IMAGE", MISSING, None, None, None)], [("IMAGE", "IMAGE")]),
    "EmptyImage": ("image", False, [
        ("width", "INT", 512, 1, R, None), ("height", "INT", 512, 1, R, None), ("batch_size", "INT", 1, 1, 4096, None),
        ("color", "INT", 0, 0, 0xFFFFFF, None)], [("IMAGE", "IMAGE")]),
    "ImagePadForOutpaint": ("image", False, [
        ("image", "IMAGE", MISSING, None, None, None), ("left", "INT", 0, 0, R, None), ("top", "INT", 0, 0, R, None),
        ("right", "INT", 0, 0, R, None), ("bottom", "INT", 0, 0, R, None), ("feathering", "INT", 40, 0, R, None)],
        [("IMAGE", "IMAGE"), ("MASK", "MASK")]),
    "EmptyLatentImage": ("latent", False, [
        ("width", "INT", 512, 16, R, None), ("height", "INT", 512, 16, R, None),
        ("batch_size", "INT", 1, 1, 4096, None)], [("LATENT", "LATENT")]),
    "LatentUpscale": ("latent", False, [
        ("samples", "LATENT", MISSING, None, None, None),
        ("upscale_method", "COMBO", "nearest-exact", None, None, UPSCALE + ["bislerp"]),
        ("width", "INT", 512, 0, R, None), ("height", "INT", 512, 0, R, None),
        ("crop", "COMBO", "disabled", None, None, CROP)], [("LATENT", "LATENT")]),
    "LatentUpscaleBy": ("latent", False, [
        ("samples", "LATENT", MISSING, None, None, None),
        ("upscale_method", "COMBO", "nearest-exact", None, None, UPSCALE + ["bislerp"]),
        ("scale_by", "FLOAT", 1.5, 0.01, 8.0, None)], [("LATENT", "LATENT")]),
    "LatentFromBatch": ("latent/batch", False, [
        ("samples", "LATENT", MISSING, None, None, None), ("batch_index", "INT", 0, 0, 63, None),
        ("length", "INT", 1, 1, 64, None)], [("LATENT", "LATENT")]),
    "RepeatLatentBatch": ("latent/batch", False, [
        ("samples", "LATENT", MISSING, None, None, None), ("amount", "INT", 1, 1, 64, None)], [("LATENT", "LATENT")]),
    "SetLatentNoiseMask": ("latent/inpaint", False, [
        ("samples", "LATENT", MISSING, None, None, None), ("mask", "MASK", MISSING, None, None, None)],
        [("LATENT", "LATENT")]),
    "ConditioningCombine": ("conditioning", False, [
        ("conditioning_1", "CONDITIONING", MISSING, None, None, None),
        ("conditioning_2", "CONDITIONING", MISSING, None, None, None)], [("CONDITIONING", "CONDITIONING")]),
    "ConditioningAverage": ("conditioning", False, [
        ("conditioning_to", "CONDITIONING", MISSING, None, None, None),
        ("conditioning_from", "CONDITIONING", MISSING, None, None, None),
        ("conditioning_to_strength", "FLOAT", 1.0, 0.0, 1.0, None)], [("CONDITIONING", "CONDITIONING")]),
    "ConditioningConcat": ("conditioning", False, [
        ("conditioning_to", "CONDITIONING", MISSING, None, None, None),
        ("conditioning_from", "CONDITIONING", MISSING, None, None, None)], [("CONDITIONING", "CONDITIONING")]),
    "ConditioningSetArea": ("conditioning", False, [
        ("conditioning", "CONDITIONING", MISSING, None, None, None), ("width", "INT", 64, 64, R, None),
        ("height", "INT", 64, 64, R, None), ("x", "INT", 0, 0, R, None), ("y", "INT", 0, 0, R, None),
        ("strength", "FLOAT", 1.0, 0.0, 10.0, None)], [("CONDITIONING", "CONDITIONING")]),
    "ConditioningSetTimestepRange": ("advanced/conditioning", False, [
        ("conditioning", "CONDITIONING", MISSING, None, None, None), ("start", "FLOAT", 0.0, 0.0, 1.0, None),
        ("end", "FLOAT", 1.0, 0.0, 1.0, None)], [("CONDITIONING", "CONDITIONING")]),
    "ConditioningZeroOut": ("advanced/conditioning", False, [
        ("conditioning", "CONDITIONING", MISSING, None, None, None)], [("CONDITIONING", "CONDITIONING")]),
    # latentloom's own: the labelled grid a sweep saves (image_1, image_2, ... are extra linked inputs)
    "ContactSheet": ("image", False, [
        ("labels", "STRING", "", None, None, None), ("columns", "INT", 0, 0, 256, None),
        ("title", "STRING", "", None, None, None)], [("IMAGE", "IMAGE")]),
}


def pack_specs() -> dict[str, NodeSpec]:
    specs = [spec_of(fn) for pack in PACKS for fn in importlib.import_module(pack).LATENTLOOM_NODES]
    return {spec.type_name: spec for spec in specs}


def test_packs_are_listed_as_builtin() -> None:
    assert BUILTIN_PACKS[: 1 + len(PACKS)] == ("nodes.builtin.core", *PACKS)
    registry, report = default_registry(entry_points=False)
    assert report.ok, report.summary()
    for name in EXPECTED:
        assert registry.is_builtin(name), name


def test_names_inputs_and_outputs_are_comfyuis() -> None:
    specs = pack_specs()
    assert sorted(specs) == sorted(EXPECTED)
    for name, (category, is_output, inputs, outputs) in EXPECTED.items():
        spec = specs[name]
        assert (spec.category, spec.is_output) == (category, is_output), name
        got = [(i.name, i.type, i.default, i.min, i.max, None if callable(i.choices) else i.choices) for i in spec.inputs]
        assert got == inputs, name
        assert [(o.name, o.type) for o in spec.outputs] == outputs, name
        assert spec.description, f"{name} has no description"
    hidden = {name: [(h.name, h.kind) for h in specs[name].hidden] for name in ("SaveImage", "PreviewImage")}
    assert hidden == {n: [("prompt", "PROMPT"), ("extra_pnginfo", "EXTRA_PNGINFO")] for n in hidden}
    assert specs["LoadImage"].inputs[0].options == {"image_upload": True, "upload": "image"}
    assert specs["LoadImage"].fingerprint is not None and specs["LoadImage"].validate is not None
    assert specs["EmptyImage"].input("color").options == {"step": 1, "display": "color"}  # type: ignore[union-attr]
    for name, display in [("LoadImage", "Load Image"), ("SaveImage", "Save Image"), ("ImageScale", "Upscale Image"),
                          ("LatentUpscaleBy", "Upscale Latent By"), ("ConditioningCombine", "Conditioning (Combine)"),
                          ("ImagePadForOutpaint", "Pad Image for Outpainting"), ("EmptyLatentImage", "Empty Latent Image")]:
        assert specs[name].display_name == display


def test_building_the_default_registry_with_these_packs_imports_no_torch() -> None:
    code = textwrap.dedent(
        """\
        import sys
        from nodes.registry import default_registry
        registry, report = default_registry(entry_points=False)
        assert report.ok, report.summary()
        assert all(n in registry for n in ("LoadImage", "LatentUpscale", "ConditioningAverage"))
        registry.object_info()
        print([m for m in ("torch", "numpy", "PIL", "diffusers") if m in sys.modules])
        """
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


ALLOWED_MODULE_IMPORTS = {"nodes.api", "graph.context"}


def _allowed(module: str, path: Path) -> bool:
    """nodes.api, graph.context, the standard library, or a sibling node file of the same pack."""
    pack = ".".join(path.relative_to(ROOT).parent.parts)
    return module in ALLOWED_MODULE_IMPORTS or module.startswith(pack + ".") or module.split(".")[0] in sys.stdlib_module_names


@pytest.mark.parametrize("path", PACK_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_one_node_per_file_importing_only_the_api(path: Path) -> None:
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), f"{path.name} has no module docstring"
    for statement in tree.body:  # module level: the standard library, nodes.api, graph.context, sibling files
        if isinstance(statement, ast.ImportFrom):
            module = statement.module or ""
            assert _allowed(module, path), module
        elif isinstance(statement, ast.Import):
            for alias in statement.names:
                assert alias.name.split(".")[0] in sys.stdlib_module_names, alias.name
    module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
    assert len(module.LATENTLOOM_NODES) == 1
