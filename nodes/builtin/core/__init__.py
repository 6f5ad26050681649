"""The core pack: primitives, math, comparisons, strings, conversions, Switch and PreviewAny.

Every module here imports only ``nodes.api`` and the standard library; none imports torch.
"""

from nodes.builtin.core import (
    arithmetic,
    compare,
    convert,
    int_add,
    preview_any,
    primitives,
    string_format,
    strings,
    switch,
)

LATENTLOOM_NODES = [
    *primitives.LATENTLOOM_NODES,
    *int_add.LATENTLOOM_NODES,
    *arithmetic.LATENTLOOM_NODES,
    *compare.LATENTLOOM_NODES,
    *strings.LATENTLOOM_NODES,
    *string_format.LATENTLOOM_NODES,
    *convert.LATENTLOOM_NODES,
    *switch.LATENTLOOM_NODES,
    *preview_any.LATENTLOOM_NODES,
]
