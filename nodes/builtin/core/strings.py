"""String nodes with ComfyUI's names and inputs (``utils/string``)."""

from typing import Annotated, Literal, NamedTuple

from nodes.api import OutputInfo, Range, Widget, node

Text = Annotated[str, Widget(multiline=True)]


@node("StringConcatenate", display_name="Concatenate", category="utils/string")
def string_concatenate(string_a: Text = "", string_b: Text = "", delimiter: str = "") -> str:
    """string_a, delimiter and string_b joined."""
    return delimiter.join((string_a, string_b))


@node("StringReplace", display_name="Replace", category="utils/string")
def string_replace(string: Text = "", find: Text = "", replace: Text = "") -> str:
    """Every occurrence of find replaced by replace."""
    return string.replace(find, replace)


class Length(NamedTuple):
    length: int


@node("StringLength", display_name="Length", category="utils/string")
def string_length(string: Text = "") -> Length:
    """The number of characters."""
    return Length(len(string))


@node("StringSubstring", display_name="Substring", category="utils/string")
def string_substring(
    string: Text = "",
    start: Annotated[int, Range(-(2**31), 2**31 - 1)] = 0,
    end: Annotated[int, Range(-(2**31), 2**31 - 1)] = 0,
) -> str:
    """The characters from start to end (Python slicing: negative indices count from the end)."""
    return string[start:end]


@node("StringContains", display_name="Contains", category="utils/string")
def string_contains(
    string: Text = "", substring: Text = "", case_sensitive: bool = True
) -> Annotated[bool, OutputInfo(name="contains")]:
    """Whether substring occurs in string."""
    if case_sensitive:
        return substring in string
    return substring.casefold() in string.casefold()


@node("StringTrim", display_name="Trim", category="utils/string")
def string_trim(string: Text = "", mode: Literal["Both", "Left", "Right"] = "Both") -> str:
    """Whitespace removed from both ends, the left or the right."""
    return {"Both": str.strip, "Left": str.lstrip, "Right": str.rstrip}[mode](string)


LATENTLOOM_NODES = [
    string_concatenate,
    string_replace,
    string_length,
    string_substring,
    string_contains,
    string_trim,
]
