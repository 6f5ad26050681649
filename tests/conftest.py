"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodes.registry import NodeRegistry
from tests.resources.toy_nodes import toy_registry

RESOURCES = Path(__file__).parent / "resources"


@pytest.fixture
def custom_nodes_dir() -> Path:
    """The fixture custom_nodes folder (ComfyUI pack, native pack, broken, disabled, override packs)."""
    return RESOURCES / "custom_nodes"


@pytest.fixture
def toy_calls() -> dict[str, int]:
    """Calls of the toy ``Counter`` node per node id, filled by :func:`toy_nodes`."""
    return {}


@pytest.fixture
def toy_nodes(toy_calls: dict[str, int]) -> NodeRegistry:
    """A fresh registry of the toy nodes (tests/resources/toy_nodes.py)."""
    return toy_registry(toy_calls)
