"""PreviewAny: show any value as text in the UI (ComfyUI's "Preview Any").

Tensors and arrays are summarised by type, shape and dtype (duck-typed, so torch is never imported);
dicts and lists are shown as indented JSON with the same summaries inside.
"""

import json
from typing import Any

from nodes.api import AnyType, Result, node

MAX_CHARS = 100_000


def _is_array(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, type)


def _summary(value: Any) -> str:
    if _is_array(value):
        device = getattr(value, "device", None)
        where = f", device={device}" if device is not None else ""
        return f"{type(value).__name__}(shape={list(value.shape)}, dtype={value.dtype}{where})"
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def describe(value: Any) -> str:
    """A readable text form of ``value`` (truncated to :data:`MAX_CHARS`)."""
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, (bool, int, float)):
        text = str(value)
    elif _is_array(value):
        text = _summary(value)
    else:
        try:
            text = json.dumps(value, indent=4, default=_summary)
        except (TypeError, ValueError):
            text = _summary(value)
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + "\n... (truncated)"


@node("PreviewAny", display_name="Preview Any", category="utilities", output=True)
def preview_any(source: AnyType) -> str:
    """Show the input as text."""
    text = describe(source)
    return Result(text, ui={"text": [text]})  # type: ignore[return-value]


LATENTLOOM_NODES = [preview_any]
