"""CheckpointSave: a LoRA'd model saved as one file loads back with the patches baked in."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from nodes.api import GraphBuilder
from nodes.models.checkpoint import load_checkpoint
from nodes.runtime import Runtime
from tests.diffusion.conftest import run


def _save_graph(prefix: str, strength: float = 0.7) -> tuple[GraphBuilder, str, str]:
    b = GraphBuilder()
    base = b.node("CheckpointLoaderSimple", ckpt_name="sd1.safetensors")
    lora = b.node("LoraLoader", model=base.out(0), clip=base.out(1), lora_name="kohya_sd1.safetensors",
                  strength_model=strength, strength_clip=1.3)
    b.node("CheckpointSave", model=lora.out(0), clip=lora.out(1), vae=base.out(2), filename_prefix=prefix)
    return b, lora.id, base.id


def test_saved_checkpoint_has_the_patches_baked_in(rt: Runtime, lora_dir: Path) -> None:
    b, lora_id, base_id = _save_graph("checkpoints/ComfyUI")
    model, clip, vae = run(rt, b, b.lookup(lora_id).out(0), b.lookup(lora_id).out(1), b.lookup(base_id).out(2))
    path = Path(rt.folders.output) / "checkpoints" / "ComfyUI_00001_.safetensors"
    assert path.is_file()
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    assert "CheckpointSave" in metadata["prompt"] and metadata["modelspec.predict_key"] == "epsilon"

    saved = load_checkpoint(path)
    with model.use() as dm:
        expected_unet = dm.unet.state_dict()
        assert all(torch.equal(saved.unet.state_dict()[k], v) for k, v in expected_unet.items())
    with clip.use() as (encoder,):
        assert all(torch.equal(saved.text_encoders[0].state_dict()[k], v) for k, v in encoder.state_dict().items())
    assert all(torch.equal(saved.vae.state_dict()[k], v) for k, v in vae.vae.state_dict().items())

    run(rt, _save_graph("checkpoints/ComfyUI", strength=0.5)[0])  # the same graph again would be cached
    assert (path.parent / "ComfyUI_00002_.safetensors").is_file()


@pytest.mark.parametrize("prefix", ["../escape", "/abs/name", "sub/.."])
def test_prefix_may_not_leave_the_output_folder(rt: Runtime, lora_dir: Path, prefix: str) -> None:
    result = rt.engine.run(_save_graph(prefix)[0].to_api())
    assert result.status == "error" and result.error is not None
    assert "CheckpointSave: filename_prefix" in result.error.message
