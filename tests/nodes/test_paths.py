"""Folders under the base directory, model listing, and refusal of names that leave a folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nodes.paths import Folders, UnsafePath, safe_join


def test_layout_and_overrides(tmp_path: Path) -> None:
    f = Folders.at(tmp_path, output=tmp_path / "elsewhere", custom_nodes=[tmp_path / "more"]).ensure()
    assert f.models == tmp_path / "models"
    assert f.output == tmp_path / "elsewhere" and f.output.is_dir()
    assert f.input.is_dir() and f.temp.is_dir() and f.user.is_dir()
    assert f.custom_nodes == (tmp_path / "custom_nodes", tmp_path / "more")
    assert f.folder("temp") == f.temp
    with pytest.raises(ValueError, match="expected output, input or temp"):
        f.folder("models")


def test_list_and_find_models(tmp_path: Path) -> None:
    f = Folders.at(tmp_path, extra_model_dirs={"checkpoints": [tmp_path / "extra"]})
    (tmp_path / "models/checkpoints/sub").mkdir(parents=True)
    (tmp_path / "models/checkpoints/a.safetensors").write_bytes(b"x")
    (tmp_path / "models/checkpoints/sub/b.ckpt").write_bytes(b"x")
    (tmp_path / "models/checkpoints/notes.txt").write_text("x")
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra/c.safetensors").write_bytes(b"x")
    (tmp_path / "models/diffusers/tiny").mkdir(parents=True)
    (tmp_path / "models/diffusers/tiny/model_index.json").write_text("{}")
    assert f.list_models("checkpoints") == ["a.safetensors", "c.safetensors", "sub/b.ckpt"]
    assert f.list_models("diffusers") == ["tiny"]
    assert f.find_model("checkpoints", "c.safetensors") == tmp_path / "extra/c.safetensors"
    with pytest.raises(FileNotFoundError, match="checkpoints folder"):
        f.find_model("checkpoints", "missing.safetensors")
    with pytest.raises(UnsafePath):
        f.find_model("checkpoints", "../../etc/passwd")


def test_safe_join_refuses_escapes(tmp_path: Path) -> None:
    root = tmp_path / "out"
    root.mkdir()
    assert safe_join(root, "sub", "a.png") == root / "sub" / "a.png"
    for bad in ("../x", "/etc/passwd", "sub/../../x"):
        with pytest.raises(UnsafePath):
            safe_join(root, bad)
    os.symlink(tmp_path, root / "link")
    with pytest.raises(UnsafePath):
        safe_join(root, "link", "secret")


def test_model_files_may_be_links_but_names_may_not_escape(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "big.safetensors").write_bytes(b"x")
    folders = Folders.at(tmp_path / "base")
    (tmp_path / "base/models/checkpoints").mkdir(parents=True)
    os.symlink(store / "big.safetensors", tmp_path / "base/models/checkpoints/linked.safetensors")
    assert folders.find_model("checkpoints", "linked.safetensors").read_bytes() == b"x"
    with pytest.raises(UnsafePath):
        folders.find_model("checkpoints", "../../store/big.safetensors")
