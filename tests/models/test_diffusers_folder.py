"""Diffusers-folder round trips (local folders only)."""

from __future__ import annotations

import json

import pytest
import torch

from nodes.models.checkpoint import load_diffusers_folder
from nodes.models.export import save_diffusers_folder


@pytest.fixture(scope="module")
def folders(tiny_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("diffusers_folders")
    return {
        family: save_diffusers_folder(
            root / family, t.unet, t.vae, t.text_encoders, family, prediction_type=t.prediction_type
        )
        for family, t in tiny_models.items()
    }


def test_folder_round_trip(tiny, folders, assert_same_modules):
    loaded = load_diffusers_folder(folders[tiny.family])
    assert (loaded.info.family, loaded.info.prediction_type) == (tiny.family, tiny.prediction_type)
    assert_same_modules(tiny.unet, loaded.unet)
    assert_same_modules(tiny.vae, loaded.vae)
    for source, restored in zip(tiny.text_encoders, loaded.text_encoders, strict=True):
        assert type(source) is type(restored)
        assert_same_modules(source, restored)
    expected_layers = {"sd1": [-1], "sd2": [-2], "sdxl": [-2, -2]}[tiny.family]
    assert [te.clip_layer for te in loaded.info.text_encoders] == expected_layers
    index = json.loads((folders[tiny.family] / "model_index.json").read_text())
    assert index["unet"] == ["diffusers", "UNet2DConditionModel"]
    assert ("text_encoder_2" in index) == (tiny.family == "sdxl")


def test_folder_without_sidecar_follows_diffusers_conventions(tiny_models, folders, tmp_path):
    import shutil

    folder = shutil.copytree(folders["sd2"], tmp_path / "sd2")
    (folder / "latentloom.json").unlink()
    loaded = load_diffusers_folder(folder, dtype=torch.float16)
    info = loaded.info
    assert (info.family, info.prediction_type, info.prediction_source) == ("sd2", "v_prediction", "scheduler config")
    assert [(te.clip_layer, te.pad_token_id) for te in info.text_encoders] == [(-1, 0)]
    assert loaded.unet.dtype == torch.float16 and loaded.text_encoders[0].dtype == torch.float16


def test_folder_loads_in_a_diffusers_pipeline(folders):
    from diffusers import StableDiffusionXLPipeline

    pipe = StableDiffusionXLPipeline.from_pretrained(str(folders["sdxl"]), local_files_only=True)
    assert pipe.scheduler.config.prediction_type == "epsilon"
    assert pipe.tokenizer_2.pad_token == "!"


def test_only_local_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model_index\.json"):
        load_diffusers_folder(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_diffusers_folder("stabilityai/stable-diffusion-2-1")
