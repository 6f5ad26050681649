"""Fixtures for the model nodes: a base folder with tiny SD1 / SD2 / SDXL models, and real runtimes on it.

The session's base folder (``models/`` only) holds:

* ``checkpoints/{sd1,sd2,sdxl}.safetensors``: single files exported from the tiny source modules;
* ``diffusers/{sd1,sdxl}/``: the same modules as diffusers folders.

Runtimes are built with :func:`nodes.runtime.build_runtime` on that folder (output and input folders in
the test's own tmp dir) plus the ``Capture`` pack of ``capture_nodes/``, so a test runs real workflows
and reads values back with :func:`run`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from nodes.api import GraphBuilder
from nodes.runtime import Runtime, Settings, build_runtime
from tests.resources.tiny_models import FAMILIES, Tiny, export_diffusers_folder, export_single_file

CAPTURE_NODES = Path(__file__).parent / "capture_nodes"


@pytest.fixture(scope="session")
def model_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The base folder with ``models/checkpoints`` and ``models/diffusers`` filled."""
    return tmp_path_factory.mktemp("diffusion_base")


@pytest.fixture(scope="session")
def tiny_models(model_base: Path) -> dict[str, Tiny]:
    models = model_base / "models"
    out = {f: export_single_file(models / "checkpoints" / f"{f}.safetensors", f) for f in FAMILIES}
    for family in ("sd1", "sdxl"):
        export_diffusers_folder(models / "diffusers" / family, out[family])
    return out


@pytest.fixture(scope="session")
def lora_dir(model_base: Path) -> Path:
    """``models/loras``: kohya (SD1), diffusers (SDXL), one with unknown keys, one with text-encoder keys only."""
    from safetensors.torch import save_file

    from tests.diffusion.lora_files import diffusers_sdxl, kohya_sd1

    folder = model_base / "models" / "loras"
    folder.mkdir(parents=True, exist_ok=True)
    save_file(kohya_sd1()[0], str(folder / "kohya_sd1.safetensors"))
    save_file(diffusers_sdxl()[0], str(folder / "peft_sdxl.safetensors"))
    bogus = dict(kohya_sd1()[0])
    bogus["lora_unet_not_a_module.lora_up.weight"] = torch.zeros(4, 4)
    bogus["lora_unet_not_a_module.lora_down.weight"] = torch.zeros(4, 4)
    bogus["lora_unet_input_blocks_1_1_proj_out.dora_scale"] = torch.zeros(4)
    save_file(bogus, str(folder / "bogus.safetensors"))
    te_only = {k: v for k, v in kohya_sd1()[0].items() if k.startswith("lora_te_")}
    save_file(te_only, str(folder / "te_only.safetensors"))
    return folder


@pytest.fixture
def make_runtime(model_base: Path, tiny_models: dict[str, Tiny], tmp_path: Path) -> Callable[..., Runtime]:
    """Build a runtime on the model base; keyword arguments override :class:`Settings` fields."""

    def build(**overrides: Any) -> Runtime:
        settings = {
            "base_dir": str(model_base),
            "output_dir": str(tmp_path / "output"),
            "input_dir": str(tmp_path / "input"),
            "temp_dir": str(tmp_path / "temp"),
            "user_dir": str(tmp_path / "user"),
            "custom_nodes": (str(CAPTURE_NODES),),
            "entry_points": False,
            **overrides,
        }
        runtime = build_runtime(Settings(**settings))
        assert "Capture" in runtime.registry, runtime.load_report.summary()
        runtime.folders.ensure()
        return runtime

    return build


@pytest.fixture
def rt(make_runtime: Callable[..., Runtime]) -> Runtime:
    return make_runtime()


def run(runtime: Runtime, builder: GraphBuilder, *captured: Any) -> list[Any]:
    """Run the graph (it must succeed) and return the values of ``captured`` outputs (``node.out(i)``).

    Each captured output gets a ``Capture`` node; the values come back in the same order.
    """
    captures = [builder.node("Capture", value=link) for link in captured]
    result = runtime.engine.run(builder.to_api())
    assert result.ok, result.error and f"{result.error}\n{''.join(result.error.traceback)}"
    return [result.value(c.id) for c in captures]


def run_error(runtime: Runtime, builder: GraphBuilder, link: Any) -> str:
    """Run a graph whose captured ``link`` must fail; returns the failure's message."""
    builder.node("Capture", value=link)
    result = runtime.engine.run(builder.to_api())
    assert result.status == "error" and result.error is not None, result.status
    return result.error.message


def load(runtime: Runtime, ckpt_name: str) -> tuple[Any, Any, Any]:
    """MODEL, CLIP and VAE of a checkpoint, loaded through CheckpointLoaderSimple."""
    b = GraphBuilder()
    ckpt = b.node("CheckpointLoaderSimple", ckpt_name=ckpt_name)
    model, clip, vae = run(runtime, b, ckpt.out(0), ckpt.out(1), ckpt.out(2))
    return model, clip, vae


def unet_call(unet: Any, x: torch.Tensor, cond: torch.Tensor, pooled: torch.Tensor | None = None) -> torch.Tensor:
    """One UNet evaluation at timestep 500 (SDXL gets pooled text embeds and 64 px size ids)."""
    kwargs: dict[str, Any] = {}
    if unet.config.addition_embed_type == "text_time":
        time_ids = torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]])
        kwargs["added_cond_kwargs"] = {"text_embeds": pooled, "time_ids": time_ids}
    with torch.no_grad():
        return unet(x, 500, encoder_hidden_states=cond, **kwargs).sample
