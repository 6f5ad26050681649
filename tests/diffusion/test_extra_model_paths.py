"""ComfyUI's extra_model_paths.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodes.paths import Folders, load_extra_model_paths

EXAMPLE = """\
comfyui:
    base_path: comfy/
    checkpoints: models/checkpoints/
    custom_nodes: custom_nodes/
a111:
    base_path: /opt/sd-webui
    is_default: true
    checkpoints: models/Stable-diffusion
    loras: |
         models/Lora
         models/LyCORIS

    vae: models/VAE
other:
    unet: $TEST_MODELS_ROOT/unet
    clip: relative/clip
empty:
"""


def test_sections_base_paths_multiline_and_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_MODELS_ROOT", "/data/models")
    config = tmp_path / "extra_model_paths.yaml"
    config.write_text(EXAMPLE)
    kinds, custom_nodes = load_extra_model_paths(config)
    assert kinds == {
        "checkpoints": [Path("/opt/sd-webui/models/Stable-diffusion"), tmp_path / "comfy/models/checkpoints"],
        "loras": [Path("/opt/sd-webui/models/Lora"), Path("/opt/sd-webui/models/LyCORIS")],
        "vae": [Path("/opt/sd-webui/models/VAE")],
        "unet": [Path("/data/models/unet")],
        "clip": [tmp_path / "relative/clip"],
    }
    assert custom_nodes == [tmp_path / "comfy/custom_nodes"]


def test_the_result_feeds_folders(tmp_path: Path) -> None:
    (tmp_path / "shared" / "ckpts").mkdir(parents=True)
    (tmp_path / "shared" / "ckpts" / "m.safetensors").write_bytes(b"x")
    config = tmp_path / "paths.yaml"
    config.write_text("mine:\n  base_path: shared\n  checkpoints: ckpts\n")
    kinds, _ = load_extra_model_paths(config)
    folders = Folders.at(tmp_path / "base", extra_model_dirs=kinds)
    assert folders.list_models("checkpoints") == ["m.safetensors"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "expected sections"),
        ("comfyui: just a string\n", "section 'comfyui' must map kinds"),
        ("comfyui:\n  checkpoints: [a, b]\n", "comfyui.checkpoints must be a folder"),
        ("comfyui: [\n", "not valid YAML"),
    ],
)
def test_malformed_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_extra_model_paths(config)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("")
    assert load_extra_model_paths(tmp_path / "empty.yaml") == ({}, [])
    with pytest.raises(FileNotFoundError):
        load_extra_model_paths(tmp_path / "missing.yaml")
