"""The loaders and VAE packs as ComfyUI declares them, and their import hygiene."""

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

ROOT = Path(__file__).resolve().parents[2]
PACKS = ("nodes.builtin.loaders", "nodes.builtin.vae")
PACK_FILES = sorted(f for pack in PACKS for f in (ROOT / pack.replace(".", "/")).glob("*.py") if f.name != "__init__.py")
S = 100.0
TILES = [("tile_size", "INT", 512, 64, 4096), ("overlap", "INT", 64, 0, 4096),
         ("temporal_size", "INT", 64, 8, 4096), ("temporal_overlap", "INT", 8, 4, 4096)]

# type name -> (category, output node, [(input, type, default, min, max)], [output types])
EXPECTED: dict[str, tuple[str, bool, list[tuple[Any, ...]], list[str]]] = {
    "CheckpointLoaderSimple": ("loaders", False, [("ckpt_name", "COMBO", MISSING, None, None)], ["MODEL", "CLIP", "VAE"]),
    "DiffusersLoader": ("advanced/loaders/deprecated", False, [("model_path", "COMBO", MISSING, None, None)],
                        ["MODEL", "CLIP", "VAE"]),
    "VAELoader": ("loaders", False, [("vae_name", "COMBO", MISSING, None, None)], ["VAE"]),
    "LoraLoader": ("loaders", False, [
        ("model", "MODEL", MISSING, None, None), ("clip", "CLIP", MISSING, None, None),
        ("lora_name", "COMBO", MISSING, None, None), ("strength_model", "FLOAT", 1.0, -S, S),
        ("strength_clip", "FLOAT", 1.0, -S, S)], ["MODEL", "CLIP"]),
    "LoraLoaderModelOnly": ("loaders", False, [
        ("model", "MODEL", MISSING, None, None), ("lora_name", "COMBO", MISSING, None, None),
        ("strength_model", "FLOAT", 1.0, -S, S)], ["MODEL"]),
    "CLIPSetLastLayer": ("conditioning", False, [
        ("clip", "CLIP", MISSING, None, None), ("stop_at_clip_layer", "INT", -1, -24, -1)], ["CLIP"]),
    "CLIPTextEncode": ("conditioning", False, [
        ("text", "STRING", MISSING, None, None), ("clip", "CLIP", MISSING, None, None)], ["CONDITIONING"]),
    "CheckpointSave": ("advanced/model_merging", True, [
        ("model", "MODEL", MISSING, None, None), ("clip", "CLIP", MISSING, None, None),
        ("vae", "VAE", MISSING, None, None), ("filename_prefix", "STRING", "checkpoints/ComfyUI", None, None)], []),
    "VAEDecode": ("latent", False, [("samples", "LATENT", MISSING, None, None), ("vae", "VAE", MISSING, None, None)],
                  ["IMAGE"]),
    "VAEEncode": ("latent", False, [("pixels", "IMAGE", MISSING, None, None), ("vae", "VAE", MISSING, None, None)],
                  ["LATENT"]),
    "VAEDecodeTiled": ("_for_testing", False, [
        ("samples", "LATENT", MISSING, None, None), ("vae", "VAE", MISSING, None, None), *TILES], ["IMAGE"]),
    "VAEEncodeTiled": ("_for_testing", False, [
        ("pixels", "IMAGE", MISSING, None, None), ("vae", "VAE", MISSING, None, None), *TILES], ["LATENT"]),
    "VAEEncodeForInpaint": ("latent/inpaint", False, [
        ("pixels", "IMAGE", MISSING, None, None), ("vae", "VAE", MISSING, None, None),
        ("mask", "MASK", MISSING, None, None), ("grow_mask_by", "INT", 6, 0, 64)], ["LATENT"]),
}


def pack_specs() -> dict[str, NodeSpec]:
    specs = [spec_of(fn) for pack in PACKS for fn in importlib.import_module(pack).LATENTLOOM_NODES]
    return {spec.type_name: spec for spec in specs}


def test_names_inputs_and_outputs_are_comfyuis() -> None:
    assert set(PACKS) <= set(BUILTIN_PACKS)
    specs = pack_specs()
    assert sorted(specs) == sorted(EXPECTED)
    for name, (category, is_output, inputs, outputs) in EXPECTED.items():
        spec = specs[name]
        assert (spec.category, spec.is_output) == (category, is_output), name
        assert [(i.name, i.type, i.default, i.min, i.max) for i in spec.inputs] == inputs, name
        assert [o.type for o in spec.outputs] == outputs, name
        assert spec.description, name
    assert [(h.name, h.kind) for h in specs["CheckpointSave"].hidden] == [("prompt", "PROMPT"), ("extra_pnginfo", "EXTRA_PNGINFO")]
    assert specs["CLIPTextEncode"].inputs[0].options["multiline"] is True
    for name, display in [("CheckpointLoaderSimple", "Load Checkpoint"), ("LoraLoader", "Load LoRA"),
                          ("VAELoader", "Load VAE"), ("CLIPTextEncode", "CLIP Text Encode (Prompt)"),
                          ("VAEDecode", "VAE Decode"), ("VAEEncodeForInpaint", "VAE Encode (for Inpainting)")]:
        assert specs[name].display_name == display


def test_building_the_registry_with_these_packs_imports_no_torch() -> None:
    code = textwrap.dedent(
        """\
        import sys
        from nodes.registry import default_registry
        registry, report = default_registry(entry_points=False)
        assert report.ok, report.summary()
        assert all(n in registry for n in ("CheckpointLoaderSimple", "LoraLoader", "VAEEncodeForInpaint"))
        registry.object_info()
        print([m for m in ("torch", "numpy", "PIL", "diffusers", "transformers", "yaml") if m in sys.modules])
        """
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("path", PACK_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_one_node_per_file_importing_only_the_api(path: Path) -> None:
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), f"{path.name} has no module docstring"
    for statement in tree.body:
        if isinstance(statement, ast.ImportFrom):
            module = statement.module or ""
            assert module in {"nodes.api", "graph.context"} or module.split(".")[0] in sys.stdlib_module_names, module
        elif isinstance(statement, ast.Import):
            assert all(a.name.split(".")[0] in sys.stdlib_module_names for a in statement.names)
    module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
    assert len(module.LATENTLOOM_NODES) == 1
