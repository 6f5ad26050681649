"""The T5 tokenizer of a cascade folder, read offline and without the sentencepiece package.

DeepFloyd IF's ``tokenizer/`` holds T5's SentencePiece model, ``spiece.model`` (a Unigram vocabulary of
32,000 pieces with their log-probabilities, plus a normalisation table), and no ``tokenizer.json``.
transformers needs the ``sentencepiece`` or ``protobuf`` package to read that file, and latentloom
installs neither. The file is a small protobuf message, so :func:`read_sentencepiece` decodes the three
things a tokenizer needs straight from the protobuf wire format (https://protobuf.dev/programming-guides/
encoding/): the pieces (``ModelProto.pieces``: ``piece`` = 1, ``score`` = 2, ``type`` = 3), the model
type (``trainer_spec.model_type`` = 3; only Unigram is T5's) and the normaliser's precompiled character
map (``normalizer_spec.precompiled_charsmap`` = 2). transformers' ``T5Tokenizer`` (a *tokenizers*
Unigram model with the Metaspace pre-tokenizer and ``</s>`` appended) is then built from them, which is
what transformers itself does after reading the file with protobuf.

:func:`t5_tokenizer` takes, in this order: ``tokenizer/tokenizer.json`` (a saved fast tokenizer), then
``tokenizer/spiece.model``. No T5 vocabulary ships with latentloom: the folder brings its own.
Prompts are truncated to 77 tokens, the length DeepFloyd IF was trained with; ``<extra_id_N>`` sentinels
get T5's ids (``<extra_id_0>`` is the last id).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: SentencePiece piece types (``SentencePiece.Type``).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
UNIGRAM = 1
MAX_LENGTH = 77


@dataclass(frozen=True)
class SentencePieceModel:
    """What a tokenizer needs from ``spiece.model``."""

    pieces: tuple[tuple[str, float, int], ...]
    model_type: int
    precompiled_charsmap: bytes


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """``(field number, wire type, value)`` of each field of one protobuf message."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} (field {number})")
        if pos > len(data):
            raise ValueError(f"field {number} runs past the end of the message")
        yield number, wire, value


def read_sentencepiece(data: bytes) -> SentencePieceModel:
    """Decode a SentencePiece ``ModelProto`` (see the module docstring).

    Raises:
        ValueError: not a SentencePiece model (malformed, or no pieces).
    """
    pieces: list[tuple[str, float, int]] = []
    model_type, charsmap = UNIGRAM, b""
    for number, wire, value in _fields(data):
        if number == 1 and wire == 2:
            piece, score, kind = "", 0.0, NORMAL
            for sub, sub_wire, sub_value in _fields(value):
                if sub == 1 and sub_wire == 2:
                    piece = sub_value.decode("utf-8")
                elif sub == 2 and sub_wire == 5:
                    score = struct.unpack("<f", sub_value)[0]
                elif sub == 3 and sub_wire == 0:
                    kind = sub_value
            pieces.append((piece, score, kind))
        elif number == 2 and wire == 2:
            model_type = next((v for n, w, v in _fields(value) if n == 3 and w == 0), UNIGRAM)
        elif number == 3 and wire == 2:
            charsmap = next((v for n, w, v in _fields(value) if n == 2 and w == 2), b"")
    if not pieces:
        raise ValueError("no vocabulary pieces: not a SentencePiece model")
    return SentencePieceModel(tuple(pieces), model_type, bytes(charsmap))


def tokenizer_from_sentencepiece(model: SentencePieceModel, extra_ids: int = 100) -> Any:
    """A transformers ``T5Tokenizer`` for a decoded SentencePiece model.

    Raises:
        ValueError: not a Unigram model, or the first pieces are not T5's ``<pad>``, ``</s>``, ``<unk>``.
    """
    from transformers import T5Tokenizer

    if model.model_type != UNIGRAM:
        raise ValueError(f"spiece.model is not a Unigram model (type {model.model_type}); T5 uses Unigram")
    head = [p[0] for p in model.pieces[:3]]
    if head != ["<pad>", "</s>", "<unk>"]:
        raise ValueError(f"spiece.model starts with {head}; T5's vocabulary starts with <pad>, </s>, <unk>")
    vocab = [(piece, score) for piece, score, _ in model.pieces]
    known = {piece for piece, _ in vocab}
    vocab += [(f"<extra_id_{i}>", 0.0) for i in reversed(range(extra_ids)) if f"<extra_id_{i}>" not in known]
    return T5Tokenizer(
        vocab=vocab,
        _spm_precompiled_charsmap=model.precompiled_charsmap or None,
        extra_ids=extra_ids,
        model_max_length=MAX_LENGTH,
    )


def t5_tokenizer(folder: str | Path) -> Any:
    """The T5 tokenizer in ``folder`` (a cascade's ``tokenizer/``), 77 tokens long.

    Raises:
        FileNotFoundError: the folder has neither ``tokenizer.json`` nor ``spiece.model``.
        ValueError: the file is not a T5 (Unigram) tokenizer.
    """
    from transformers import T5Tokenizer

    folder = Path(folder)
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    if (folder / "tokenizer.json").is_file():
        tokenizer = T5Tokenizer(tokenizer_file=str(folder / "tokenizer.json"), model_max_length=MAX_LENGTH,
                                extra_ids=0, additional_special_tokens=None)
    elif (folder / "spiece.model").is_file():
        model = read_sentencepiece((folder / "spiece.model").read_bytes())
        tokenizer = tokenizer_from_sentencepiece(model, int(config.get("extra_ids", 100)))
    else:
        raise FileNotFoundError(f"{folder}: no T5 tokenizer (tokenizer.json or spiece.model); copy the "
                                "tokenizer/ folder of the model")
    tokenizer.model_max_length = MAX_LENGTH
    return tokenizer
