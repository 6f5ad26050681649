"""Prompt weighting syntax and token chunking (no models)."""

from __future__ import annotations

import pytest

from nodes.models.prompt import BOS_ID, EOS_ID, LONG_WORD, chunk_words, empty_chunk, parse_weights


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a photo", [("a photo", 1.0)]),
        ("a (red:1.5) car", [("a ", 1.0), ("red", 1.5), (" car", 1.0)]),
        ("(word)", [("word", 1.1)]),
        ("((word))", [("word", 1.1 * 1.1)]),
        ("[word]", [("word", 1 / 1.1)]),
        ("[[word]]", [("word", 1 / 1.1 / 1.1)]),
        ("((word:1.5))", [("word", 1.5)]),  # an explicit weight replaces the enclosing groups'
        ("(a (b:1.2):0.5)", [("a ", 0.5), ("b", 1.2)]),
        ("(a:b)", [("a:b", 1.1)]),  # not a number: an ordinary group with a colon in its text
        (r"\(word\)", [("(word)", 1.0)]),
        (r"\[word\]", [("[word]", 1.0)]),
        (r"(\(x\):1.3)", [("(x)", 1.3)]),
        ("(unclosed", [("(unclosed", 1.0)]),
        ("stray) and] brackets", [("stray) and] brackets", 1.0)]),
        ("[a](b)", [("a", 1 / 1.1), ("b", 1.1)]),
        ("(a)(b)", [("ab", 1.1)]),  # equal neighbours merge
        ("", []),
        ("(:2)", []),
    ],
)
def test_parse_weights(text: str, expected: list[tuple[str, float]]) -> None:
    got = parse_weights(text)
    assert [t for t, _ in got] == [t for t, _ in expected]
    assert [w for _, w in got] == pytest.approx([w for _, w in expected], rel=1e-12)


def _words(*lengths: int) -> list[list[tuple[int, float]]]:
    """Words of the given token counts; token ids count up from 1000."""
    out, token = [], 1000
    for length in lengths:
        out.append([(token + i, 1.0) for i in range(length)])
        token += length
    return out


def test_chunks_are_bos_tokens_eos_and_padding() -> None:
    [chunk] = chunk_words(_words(1, 2), pad_id=0)
    assert [t for t, _ in chunk[:5]] == [BOS_ID, 1000, 1001, 1002, EOS_ID]
    assert len(chunk) == 77 and {t for t, _ in chunk[5:]} == {0}
    assert empty_chunk(EOS_ID) == [(BOS_ID, 1.0)] + [(EOS_ID, 1.0)] * 76


def test_200_tokens_make_three_chunks() -> None:
    chunks = chunk_words(_words(*[1] * 200), pad_id=EOS_ID)
    assert [sum(1 for t, _ in c if 1000 <= t < 2000) for c in chunks] == [75, 75, 50]
    assert sum(len(c) for c in chunks) == 231


def test_a_short_word_moves_whole_to_the_next_chunk_and_a_long_one_is_split() -> None:
    short = chunk_words(_words(*[1] * 74, 3), pad_id=EOS_ID)
    assert [sum(1 for t, _ in c if 1000 <= t < 2000) for c in short] == [74, 3]
    long = chunk_words(_words(*[1] * 74, LONG_WORD), pad_id=EOS_ID)
    assert [sum(1 for t, _ in c if 1000 <= t < 2000) for c in long] == [75, LONG_WORD - 1]
    exact = chunk_words(_words(*[1] * 75), pad_id=EOS_ID)
    assert len(exact) == 1 and exact[0][-1] == (EOS_ID, 1.0)
