"""Import ``models/tiny/*.py`` and ``benchmarks/*.py`` by path (neither folder is a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "models" / "tiny"
CHECKPOINT = ROOT / "models" / "checkpoints" / "latentloom-tiny.safetensors"


def load_path(name: str, path: Path) -> ModuleType:
    """Import ``path`` as module ``name`` once per process (``models/tiny`` goes on ``sys.path`` first)."""
    if str(TINY) not in sys.path:
        sys.path.insert(0, str(TINY))
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def dataset() -> ModuleType:
    return load_path("dataset", TINY / "dataset.py")


@pytest.fixture(scope="session")
def classify() -> ModuleType:
    return load_path("classify", TINY / "classify.py")


@pytest.fixture(scope="session")
def prompt_following() -> ModuleType:
    return load_path("prompt_following", ROOT / "benchmarks" / "prompt_following.py")
