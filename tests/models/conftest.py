"""Tiny random-weight SD1 / SD2 / SDXL models, built once per session and exported as single files.

The builders live in :mod:`tests.resources.tiny_models` (shared with tests/diffusion).

Sizes follow docs/environment.md: UNet block_out_channels (32, 64), one layer per block, cross-attention
width 32 (SDXL: 64, its two 32-wide encoders concatenated); CLIP hidden 32, 2 layers, 4 heads,
intermediate 37, the real 49,408-token vocabulary; VAE with 4 blocks (32, 32, 64, 64).  SD2 is exported
as v-prediction; SDXL's UNet uses the "text_time" added embedding and two transformer layers in its
attention block, and its second encoder has a projection.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.resources.tiny_models import FAMILIES, Tiny, export_single_file


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny_models")


@pytest.fixture(scope="session")
def tiny_models(tiny_dir: Path) -> dict[str, Tiny]:
    """All three families, exported with :func:`nodes.models.export.save_checkpoint`."""
    return {family: export_single_file(tiny_dir / f"{family}.safetensors", family) for family in FAMILIES}


@pytest.fixture(scope="session", params=FAMILIES)
def tiny(request: pytest.FixtureRequest, tiny_models: dict[str, Tiny]) -> Tiny:
    return tiny_models[request.param]


@pytest.fixture(scope="session")
def loaded_models(tiny_models: dict[str, Tiny]) -> dict[str, Any]:
    from nodes.models.checkpoint import load_checkpoint

    return {family: load_checkpoint(t.path) for family, t in tiny_models.items()}


@pytest.fixture(scope="session")
def assert_same_modules() -> Callable[[Any, Any], None]:
    """Assert two modules have the same parameter names and bit-identical tensors (and dtypes)."""

    def check(expected: Any, actual: Any) -> None:
        a, b = expected.state_dict(), actual.state_dict()
        assert sorted(a) == sorted(b)
        different = [k for k in a if a[k].dtype != b[k].dtype or not torch.equal(a[k], b[k])]
        assert not different, f"{len(different)} tensors differ, e.g. {different[:5]}"

    return check
