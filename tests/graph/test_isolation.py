"""graph/ must stay pure: no torch, no diffusers, nothing from nodes/ or server/."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_engine_pulls_in_no_torch_nodes_or_server() -> None:
    code = (
        "import sys, pkgutil, importlib, graph\n"
        "for m in pkgutil.iter_modules(graph.__path__): importlib.import_module('graph.' + m.name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'diffusers', 'transformers', 'nodes', 'server'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_graph_sources_do_not_import_forbidden_packages() -> None:
    pattern = re.compile(r"^\s*(from|import)\s+(torch|diffusers|transformers|nodes|server)\b", re.MULTILINE)
    for path in (ROOT / "graph").glob("*.py"):
        match = pattern.search(path.read_text())
        assert match is None, f"{path.name} imports {match.group(2)}"
