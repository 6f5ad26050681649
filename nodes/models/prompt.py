"""Prompt weighting and CLIP token chunking, as ComfyUI's CLIPTextEncode reads a prompt (no torch).

Weighting syntax
----------------
* ``(text)`` multiplies the weight of ``text`` by 1.1; nesting multiplies again: ``((text))`` = 1.1².
* ``(text:1.3)`` sets the weight to 1.3 (it replaces the weight of the enclosing group, as in ComfyUI):
  the number after the *last* colon of the group; when that is not a number (``(a:b)``) the group is an
  ordinary 1.1 group and the colon is text.
* ``[text]`` divides the weight by 1.1 (AUTOMATIC1111's syntax; ComfyUI itself reads brackets as text).
* ``\\(``, ``\\)``, ``\\[``, ``\\]`` are the literal characters; any other backslash is text.  A bracket
  without its partner is text.

The result is a list of ``(text, weight)`` segments (:func:`parse_weights`).

Tokens and chunks
-----------------
Each segment is split at spaces into words and each word is tokenized on its own (so a weight boundary
is also a word boundary).  Tokens are packed into chunks of :data:`CHUNK_TOKENS` (75): a word that
does not fit in what is left of a chunk moves whole to the next one, unless it is :data:`LONG_WORD`
(8) tokens or longer, in which case it is split to fill the chunk.  Every chunk becomes
``BOS + tokens + EOS`` padded to 77 with the encoder's pad id (49407 for OpenAI CLIP, 0 for
OpenCLIP); BOS, EOS and padding have weight 1.0.  An empty prompt is one chunk ``BOS, EOS, pad...``.
How the weights then act on the encoder output is described in :mod:`nodes.models.handles`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

# The same values as nodes.models.tokenizer, which imports transformers; this module stays import-light.
BOS_ID = 49406
EOS_ID = 49407
MAX_LENGTH = 77
#: Weight factor of one pair of parentheses (and divisor of one pair of brackets).
STEP = 1.1
#: Prompt tokens per chunk: the 77 positions less BOS and EOS.
CHUNK_TOKENS = MAX_LENGTH - 2
#: Words of at least this many tokens may be split between two chunks.
LONG_WORD = 8

#: One chunk: exactly ``MAX_LENGTH`` ``(token_id, weight)`` pairs.
Chunk = list[tuple[int, float]]

_CLOSERS = {"(": ")", "[": "]"}
_ESCAPABLE = frozenset("()[]")


class Tokenizer(Protocol):
    """What is needed of a ``transformers.CLIPTokenizer``."""

    def __call__(self, text: str, *, add_special_tokens: bool = ...) -> Any: ...


# --------------------------------------------------------------------------------------------------
# Weights


def parse_weights(text: str) -> list[tuple[str, float]]:
    """Split a prompt into ``(text, weight)`` segments (see the module docstring for the syntax).

    Adjacent segments of equal weight are merged and empty ones dropped, so ``"a photo"`` gives
    ``[("a photo", 1.0)]`` and ``"a (red:1.5) car"`` gives ``[("a ", 1.0), ("red", 1.5), (" car", 1.0)]``.
    """
    out: list[tuple[str, float]] = []
    _parse(_lex(text), 1.0, out)
    merged: list[tuple[str, float]] = []
    for segment, weight in out:
        if not segment:
            continue
        if merged and merged[-1][1] == weight:
            merged[-1] = (merged[-1][0] + segment, weight)
        else:
            merged.append((segment, weight))
    return merged


def _lex(text: str) -> list[tuple[bool, str]]:
    """Characters as ``(is_syntax, char)``: brackets are syntax unless escaped."""
    items: list[tuple[bool, str]] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in _ESCAPABLE:
            items.append((False, text[i + 1]))
            i += 2
            continue
        items.append((char in _ESCAPABLE, char))
        i += 1
    return items


def _matching(items: Sequence[tuple[bool, str]], start: int) -> int | None:
    """Index of the bracket closing the one at ``start`` (same kind, nesting counted), or None."""
    opener = items[start][1]
    closer = _CLOSERS[opener]
    depth = 0
    for index in range(start, len(items)):
        syntax, char = items[index]
        if not syntax:
            continue
        if char == opener:
            depth += 1
        elif char == closer:
            depth -= 1
            if depth == 0:
                return index
    return None


def _explicit_weight(items: Sequence[tuple[bool, str]]) -> tuple[Sequence[tuple[bool, str]], float | None]:
    """``(inner items, weight)`` for a ``(text:weight)`` group; weight None when there is none."""
    colon = max((i for i, (syntax, char) in enumerate(items) if char == ":" and not syntax), default=None)
    if colon is None:
        return items, None
    tail = items[colon + 1 :]
    if any(syntax for syntax, _ in tail):
        return items, None
    try:
        return items[:colon], float("".join(char for _, char in tail))
    except ValueError:
        return items, None


def _parse(items: Sequence[tuple[bool, str]], weight: float, out: list[tuple[str, float]]) -> None:
    text: list[str] = []
    i = 0
    while i < len(items):
        syntax, char = items[i]
        end = _matching(items, i) if syntax and char in _CLOSERS else None
        if end is None:  # text, an escaped bracket, or a bracket without its partner
            text.append(char)
            i += 1
            continue
        out.append(("".join(text), weight))
        text = []
        inner: Sequence[tuple[bool, str]] = items[i + 1 : end]
        if char == "(":
            inner, explicit = _explicit_weight(inner)
            _parse(inner, explicit if explicit is not None else weight * STEP, out)
        else:
            _parse(inner, weight / STEP, out)
        i = end + 1
    out.append(("".join(text), weight))


# --------------------------------------------------------------------------------------------------
# Tokens


def word_tokens(tokenizer: Tokenizer, segments: Sequence[tuple[str, float]]) -> list[list[tuple[int, float]]]:
    """The ``(token_id, weight)`` pairs of every word (words split at spaces), without BOS/EOS."""
    words: list[list[tuple[int, float]]] = []
    for segment, weight in segments:
        for word in segment.split(" "):
            if not word:
                continue
            ids = list(tokenizer(word, add_special_tokens=False)["input_ids"])
            if ids:
                words.append([(int(token), weight) for token in ids])
    return words


def _close(chunk: list[tuple[int, float]], pad_id: int) -> Chunk:
    chunk = [(BOS_ID, 1.0), *chunk, (EOS_ID, 1.0)]
    return chunk + [(pad_id, 1.0)] * (MAX_LENGTH - len(chunk))


def chunk_words(words: Sequence[Sequence[tuple[int, float]]], pad_id: int) -> list[Chunk]:
    """Pack words into 77-token chunks (see the module docstring); at least one chunk."""
    chunks: list[Chunk] = []
    current: list[tuple[int, float]] = []
    for word in words:
        rest = list(word)
        while rest:
            room = CHUNK_TOKENS - len(current)
            if len(rest) <= room:
                current.extend(rest)
                break
            if len(rest) >= LONG_WORD:  # a long word fills the chunk and continues in the next
                current.extend(rest[:room])
                rest = rest[room:]
            chunks.append(_close(current, pad_id))
            current = []
    chunks.append(_close(current, pad_id))
    return chunks


def tokenize_weighted(text: str, tokenizer: Tokenizer, pad_id: int) -> list[Chunk]:
    """A prompt as weighted 77-token chunks: :func:`parse_weights`, :func:`word_tokens`, :func:`chunk_words`."""
    return chunk_words(word_tokens(tokenizer, parse_weights(text)), pad_id)


def empty_chunk(pad_id: int) -> Chunk:
    """The chunk of the empty prompt: ``BOS, EOS`` and padding, all weight 1.0."""
    return _close([], pad_id)
