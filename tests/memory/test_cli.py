"""``latentloom run --memory-report`` with a budget: the manager's status after the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nodes.cli import main
from tests.diffusion.test_end_to_end import txt2img


def test_run_prints_the_memory_report(model_base: Path, tiny_models: Any, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    workflow = tmp_path / "txt2img.json"
    workflow.write_text(json.dumps(txt2img("sd1.safetensors", steps=1)))
    code = main(["run", str(workflow), "--base-dir", str(model_base), "--output-dir", str(tmp_path / "out"), "-q",
                 "--no-entry-points", "--vram-budget", "0.5", "--ram-budget", "1", "--memory-report"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "memory: mode cpu, compute cpu" in err and "sd1.safetensors:unet" in err
    assert "budget 1,024.0 MiB" in err  # the RAM budget; on the CPU the device budget is the --vram-budget
    assert "of a 512.0 MiB budget" in err
