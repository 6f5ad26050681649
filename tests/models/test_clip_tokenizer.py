"""The offline CLIP tokenizer and the committed vocabulary files."""

from __future__ import annotations

import json

import pytest

from nodes.models.make_clip_vocab import NUM_MERGES, SPECIAL_TOKENS, byte_symbols
from nodes.models.tokenizer import BOS_ID, EOS_ID, TOKENIZER_DIR, clip_tokenizer

CAT = [49406, 320, 1125, 539, 320, 2368, 49407]


@pytest.fixture(scope="module")
def eos_tokenizer():
    return clip_tokenizer("eos")


@pytest.fixture(scope="module")
def zero_tokenizer():
    return clip_tokenizer("zero")


def test_real_clip_ids(eos_tokenizer, zero_tokenizer):
    assert eos_tokenizer("a photo of a cat").input_ids == CAT
    assert zero_tokenizer("a photo of a cat").input_ids == CAT
    assert (eos_tokenizer.bos_token_id, eos_tokenizer.eos_token_id) == (BOS_ID, EOS_ID)


def test_sd1_pads_with_end_of_text_to_77(eos_tokenizer):
    ids = eos_tokenizer("a photo of a cat", padding="max_length", max_length=77).input_ids
    assert len(ids) == 77 and ids == CAT + [49407] * 70
    assert eos_tokenizer.model_max_length == 77


def test_open_clip_pads_with_zero_and_keeps_exclamation_mark_a_normal_token(eos_tokenizer, zero_tokenizer):
    ids = zero_tokenizer("a photo of a cat", padding="max_length", max_length=77).input_ids
    assert ids == CAT + [0] * 70
    # "!" is BPE token 256 ("!</w>") in both; declaring "!" as pad *token* would turn it into 0
    assert zero_tokenizer("hello!").input_ids == eos_tokenizer("hello!").input_ids == [49406, 3306, 256, 49407]
    batch = zero_tokenizer(["hi", "a photo"], padding=True, return_tensors="pt")
    assert batch.input_ids[0].tolist() == [49406, 1883, 49407, 0]
    assert batch.attention_mask[0].tolist() == [1, 1, 1, 0]


def test_rejects_unknown_pad_mode():
    with pytest.raises(ValueError, match="'eos' or 'zero'"):
        clip_tokenizer("left")  # type: ignore[arg-type]


def test_committed_files_follow_the_generator_rules():
    """vocab.json is byte symbols, the same with </w>, one token per merge, then the two specials."""
    vocab = json.loads((TOKENIZER_DIR / "vocab.json").read_text(encoding="utf-8"))
    lines = (TOKENIZER_DIR / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#version: 0.2" and len(lines) == NUM_MERGES + 1
    symbols = byte_symbols()
    assert len(set(symbols)) == 256
    expected = symbols + [s + "</w>" for s in symbols] + ["".join(m.split()) for m in lines[1:]] + list(SPECIAL_TOKENS)
    assert list(vocab) == expected
    assert list(vocab.values()) == list(range(49408))
