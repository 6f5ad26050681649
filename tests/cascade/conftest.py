"""Fixtures for the prior, cascade and CLIP tests: tiny folders in the real layouts, and runtimes on them.

The session's base folder holds ``models/`` written by :func:`tests.cascade.tiny_stacks.write_model_folders`
(unCLIP, Kandinsky prior and decoder, IF stages I and II, a CLIP model) plus a transformers-layout CLIP
folder; runtimes are built on it with :func:`nodes.runtime.build_runtime` and the ``Capture`` pack, so a
test runs real workflows through the engine and reads any value back.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nodes.api import GraphBuilder
from nodes.runtime import Runtime, Settings, build_runtime

CAPTURE_NODES = Path(__file__).resolve().parents[1] / "diffusion" / "capture_nodes"
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> Iterator[None]:
    """One torch thread: bitwise-stable numbers, and room for the other jobs on this machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def cascade_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A base folder whose ``models/`` holds every tiny folder (see :data:`tests.cascade.tiny_stacks.FOLDERS`)."""
    from tests.cascade.tiny_stacks import write_clip_model_folder, write_model_folders

    base = tmp_path_factory.mktemp("cascade_base")
    write_model_folders(base / "models")
    write_clip_model_folder(base / "models" / "clip_models" / "clip-transformers")
    return base


@pytest.fixture
def make_runtime(cascade_base: Path, tmp_path: Path) -> Callable[..., Runtime]:
    """Build a runtime on the tiny folders; keyword arguments override :class:`Settings` fields."""

    def build(**overrides: Any) -> Runtime:
        settings = {
            "base_dir": str(cascade_base),
            "output_dir": str(tmp_path / "output"),
            "input_dir": str(tmp_path / "input"),
            "temp_dir": str(tmp_path / "temp"),
            "user_dir": str(tmp_path / "user"),
            "custom_nodes": (str(CAPTURE_NODES),),
            "entry_points": False,
            "device": "cpu",
            **overrides,
        }
        hooks = settings.pop("hooks", None)
        runtime = build_runtime(Settings(**settings), hooks)
        assert "Capture" in runtime.registry, runtime.load_report.summary()
        runtime.folders.ensure()
        return runtime

    return build


def run(runtime: Runtime, builder: GraphBuilder, *captured: Any) -> list[Any]:
    """Run the graph (it must succeed) and return the values of the ``captured`` outputs, in order."""
    captures = [builder.node("Capture", value=link) for link in captured]
    result = runtime.engine.run(builder.to_api())
    assert result.ok, result.error and f"{result.error}\n{''.join(result.error.traceback)}"
    return [result.value(c.id) for c in captures]


def run_error(runtime: Runtime, builder: GraphBuilder, link: Any) -> str:
    """Run a graph whose captured ``link`` must fail; returns the failure's message."""
    builder.node("Capture", value=link)
    result = runtime.engine.run(builder.to_api())
    assert result.status == "error" and result.error is not None, result.status
    return result.error.message
