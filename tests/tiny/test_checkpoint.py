"""The shipped checkpoint and the main job's workflow: format, size, architecture, loading through the engine."""

from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from safetensors import safe_open

from nodes.models.checkpoint import load_checkpoint
from nodes.models.info import ARCHITECTURE_METADATA_KEY
from nodes.runtime import Settings, build_runtime
from tests.tiny.conftest import CHECKPOINT, ROOT

WORKFLOW = ROOT / "workflows" / "txt2img.json"


def test_one_fp16_file_under_20_mb_in_the_original_layout() -> None:
    assert CHECKPOINT.is_file(), f"{CHECKPOINT} is missing; train it with models/tiny/train.py"
    assert CHECKPOINT.stat().st_size < 20 * 1024 * 1024
    with safe_open(str(CHECKPOINT), framework="pt") as handle:
        keys = list(handle.keys())
        metadata = handle.metadata()
        dtypes = {handle.get_slice(k).get_dtype() for k in keys}
    assert dtypes == {"F16"}
    prefixes = {k.split(".")[0] for k in keys}
    assert prefixes == {"model", "first_stage_model", "cond_stage_model"}
    assert "model.diffusion_model.input_blocks.0.0.weight" in keys
    assert "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight" in keys
    assert metadata["modelspec.predict_key"] == "epsilon"
    assert json.loads(metadata[ARCHITECTURE_METADATA_KEY])["format"] == 1
    assert json.loads(metadata["latentloom.recipe"])["seed"] == 0


def test_it_loads_as_a_stable_diffusion_1_checkpoint() -> None:
    loaded = load_checkpoint(CHECKPOINT)
    assert (loaded.info.family, loaded.info.prediction_type) == ("sd1", "epsilon")
    assert loaded.info.scheduler_config["beta_schedule"] == "scaled_linear"
    vae = loaded.vae.config
    assert 2 ** (len(vae.block_out_channels) - 1) == 8 and vae.latent_channels == 4
    text = loaded.text_encoders[0].config
    assert (text.vocab_size, text.max_position_embeddings) == (49408, 77)
    assert loaded.unet.config.cross_attention_dim == text.hidden_size
    assert loaded.tokenizers[0]("a red circle").input_ids == [49406, 320, 736, 7117, 49407]
    with torch.no_grad():
        cond = loaded.text_encoders[0](input_ids=torch.tensor([[49406, 320, 736, 7117] + [49407] * 73])).last_hidden_state
        eps = loaded.unet(torch.zeros(1, 4, 8, 8, dtype=torch.float16), 500, cond).sample
    assert eps.shape == (1, 4, 8, 8) and torch.isfinite(eps).all()


def api_graph() -> dict:
    doc = json.loads(WORKFLOW.read_text())
    return doc["prompt"] if str(doc.get("format", "")).startswith("latentloom-workflow/") else doc


def test_the_workflow_is_the_documented_main_job(tmp_path) -> None:
    doc = api_graph()
    nodes = {n["_meta"]["title"]: n for n in doc.values()}
    assert {"Prompt", "Negative", "Sampler", "Size"} <= set(nodes)
    types = sorted(n["class_type"] for n in doc.values())
    assert types == sorted(["CheckpointLoaderSimple", "CLIPTextEncode", "CLIPTextEncode", "EmptyLatentImage",
                            "KSampler", "VAEDecode", "SaveImage"])
    loader = next(n for n in doc.values() if n["class_type"] == "CheckpointLoaderSimple")
    assert loader["inputs"]["ckpt_name"] == CHECKPOINT.name
    assert (nodes["Size"]["inputs"]["width"], nodes["Size"]["inputs"]["height"]) == (64, 64)
    assert nodes["Sampler"]["inputs"]["steps"] == 20
    saver = next(n for n in doc.values() if n["class_type"] == "SaveImage")
    assert saver["inputs"]["filename_prefix"] == "latentloom"
    runtime = build_runtime(Settings(base_dir=str(ROOT), output_dir=str(tmp_path), entry_points=False))
    assert not runtime.engine.validate(doc).errors


@pytest.mark.slow
def test_the_workflow_writes_a_picture(tmp_path) -> None:
    import numpy as np
    from PIL import Image

    runtime = build_runtime(Settings(base_dir=str(ROOT), output_dir=str(tmp_path), entry_points=False))
    result = runtime.engine.run(api_graph())
    assert result.ok, result.error
    [png] = list(tmp_path.glob("latentloom_*.png"))
    pixels = np.asarray(Image.open(png).convert("RGB"))
    assert pixels.shape == (64, 64, 3) and pixels.std() > 10  # not a flat or empty picture
