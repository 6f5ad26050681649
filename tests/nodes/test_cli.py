"""The latentloom command line, in process (main(argv)) and once as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nodes.cli import apply_overrides, main

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "workflows" / "hello.json"

COMFY_PACK = '''
class Multiply:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("FLOAT", {"default": 1.0}), "b": ("FLOAT", {"default": 2.0, "min": 0})}}
    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "run"
    CATEGORY = "math"
    def run(self, a, b):
        return (a * b,)

NODE_CLASS_MAPPINGS = {"TestMultiply": Multiply}
'''


def write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc))
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_run_prints_text_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "run", str(HELLO), "--base-dir", str(tmp_path), "--no-entry-points")
    assert code == 0, err
    assert "PreviewAny #5: latentloom says 42" in out
    assert "[1]" in err and "done in" in err


def test_set_overrides_by_id_and_title(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "run", str(HELLO), "--base-dir", str(tmp_path), "-q", "--set", "2.b=10", "--set", "Name.value=loom")
    assert code == 0
    assert "loom says 60" in out


def test_apply_overrides_rules() -> None:
    doc = json.loads(HELLO.read_text())
    changed = apply_overrides(doc, ["Answer.a=3", "1.value=[1, 2]", "1.value=plain text"])
    assert changed["2"]["inputs"]["a"] == 3 and doc["2"]["inputs"]["a"] == 6
    assert changed["1"]["inputs"]["value"] == "plain text"
    assert apply_overrides(doc, ["1.value=[1, 2]"])["1"]["inputs"]["value"] == {"__value__": [1, 2]}
    with pytest.raises(ValueError, match="NODE.INPUT=VALUE"):
        apply_overrides(doc, ["nonsense"])
    with pytest.raises(ValueError, match="no node with id or title 'Nope'"):
        apply_overrides(doc, ["Nope.a=1"])


def test_invalid_workflow_prints_every_error_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads(HELLO.read_text())
    doc["2"]["inputs"]["operation"] = "explode"
    doc["4"]["inputs"]["string_a"] = ["99", 0]
    doc["6"] = {"class_type": "NoSuchNode", "inputs": {}}
    code, _, err = run_cli(capsys, "run", str(write(tmp_path / "bad.json", doc)), "--base-dir", str(tmp_path))
    assert code == 2
    assert "3 error(s)" in err or "error(s)" in err
    assert "operation" in err and "value_not_in_list" in err
    assert "link_to_missing_node" in err
    assert "NoSuchNode" in err


def test_failing_node_exits_1_with_node_and_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = {"1": {"class_type": "IntMath", "inputs": {"a": 1, "b": 0, "operation": "divide"}}, "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    code, _, err = run_cli(capsys, "run", str(write(tmp_path / "f.json", doc)), "--base-dir", str(tmp_path), "-q")
    assert code == 1
    assert "node 1 (IntMath) failed" in err and "b is 0" in err and '"b": [0]' in err


def test_unreadable_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", str(tmp_path / "missing.json"), "--base-dir", str(tmp_path)])
    assert info.value.code == 2
    (tmp_path / "broken.json").write_text("{nope")
    with pytest.raises(SystemExit):
        main(["validate", str(tmp_path / "broken.json"), "--base-dir", str(tmp_path)])
    assert "not valid JSON" in capsys.readouterr().err


def test_validate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path / "bad.json", {"1": {"class_type": "IntMath", "inputs": {"a": "x"}}, "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}})
    code, out, err = run_cli(capsys, "validate", str(HELLO), str(bad), "--base-dir", str(tmp_path))
    assert code == 2
    assert "hello.json: ok" in out
    assert "invalid_input_type" in err and "/1/inputs/a" in err


def test_nodes_command_lists_and_dumps_object_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "nodes", "--base-dir", str(tmp_path))
    assert code == 0 and "IntMath" in out and "PreviewAny" in out
    code, out, _ = run_cli(capsys, "nodes", "--json", "IntMath", "--base-dir", str(tmp_path))
    info = json.loads(out)
    assert list(info) == ["IntMath"] and info["IntMath"]["output"] == ["INT"]
    code, _, err = run_cli(capsys, "nodes", "Nope", "--base-dir", str(tmp_path))
    assert code == 2 and "Nope" in err


def test_custom_nodes_folders_load_and_failures_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pack_dir = tmp_path / "extra_nodes"
    pack_dir.mkdir()
    (pack_dir / "multiply.py").write_text(COMFY_PACK)
    (pack_dir / "broken.py").write_text("raise RuntimeError('this pack is broken')\n")
    doc = {"1": {"class_type": "TestMultiply", "inputs": {"a": 1.5, "b": 4}}, "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    code, out, err = run_cli(capsys, "run", str(write(tmp_path / "m.json", doc)), "--base-dir", str(tmp_path), "--custom-nodes", str(pack_dir), "-q")
    assert code == 0, err
    assert "PreviewAny #2: 6.0" in out
    assert "broken" in err and "this pack is broken" in err


def test_console_script_runs_as_a_subprocess(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "latentloom"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "nodes.cli"]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run([*cmd, "run", str(HELLO), "--base-dir", str(tmp_path)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "latentloom says 42" in proc.stdout
