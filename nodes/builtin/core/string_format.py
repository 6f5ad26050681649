"""StringFormat: fill a Python format template (``"{a} has {b:.2f}"``) from the node's inputs.

Templates come from workflows, which may come from anyone, so fields are plain names only: attribute and
index access (``{a.__class__}``, ``{a[0]}``) are refused, and so are widths or precisions over 9999 (a
template must not allocate gigabytes).
"""

import re
import string
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from nodes.api import AnyType, Widget, node

_BIG_NUMBER = re.compile(r"\d{5,}")


class _SafeFormatter(string.Formatter):
    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if not field_name.isidentifier():
            raise ValueError(
                f"StringFormat: field {{{field_name}}} is not allowed; use plain input names such as {{a}}"
            )
        if field_name not in kwargs:
            raise ValueError(f"StringFormat: the template uses {{{field_name}}}, which is not connected")
        return kwargs[field_name], field_name

    def format_field(self, value: Any, format_spec: str) -> Any:
        if _BIG_NUMBER.search(format_spec):
            raise ValueError(f"StringFormat: format spec {format_spec!r} is too large (at most 9999)")
        return super().format_field(value, format_spec)


@node("StringFormat", display_name="Format", category="utils/string", accepts_extra=True)
def string_format(
    template: Annotated[str, Widget(multiline=True, tooltip="Python format syntax, e.g. {a} and {b:.2f}")] = "{a}",
    a: AnyType | None = None,
    b: AnyType | None = None,
    c: AnyType | None = None,
    d: AnyType | None = None,
    **extra: Any,
) -> str:
    """The template with {a} to {d} (and any other linked input, by its name) filled in.

    Raises:
        ValueError: the template names an unconnected input, uses attribute/index access or a huge width.
    """
    values = {k: v for k, v in {"a": a, "b": b, "c": c, "d": d, **extra}.items() if v is not None}
    return _SafeFormatter().vformat(template, (), values)


LATENTLOOM_NODES = [string_format]
