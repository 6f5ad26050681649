"""The README's node examples load as custom node packs and run as documented."""

from __future__ import annotations

import re
from pathlib import Path

from graph.engine import Engine
from nodes.registry import default_registry

ROOT = Path(__file__).resolve().parents[1]


def test_readme_node_examples_run(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) >= 2
    for i, block in enumerate(blocks):
        (tmp_path / f"readme_example_{i}.py").write_text(block)
    registry, report = default_registry(custom_node_dirs=[tmp_path], entry_points=False)
    assert report.ok, report.summary()
    doc = {
        "1": {"class_type": "SplitText", "inputs": {"text": "a,b,c", "separator": ",", "mode": "last"}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 1]}},
        "3": {"class_type": "Multiply", "inputs": {"a": 2.5, "b": 2}},
        "4": {"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}},
    }
    result = Engine(registry).run(doc)
    assert result.ui["2"] == {"text": ["c"]}
    assert result.ui["4"] == {"text": ["5.0"]}
    assert registry.object_info("Multiply")["Multiply"]["display_name"] == "Multiply two numbers"
