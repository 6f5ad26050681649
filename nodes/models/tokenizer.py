"""The CLIP tokenizer, built offline from the vocabulary committed in ``clip_tokenizer/``.

Every supported family (SD1, SD2, SDXL) uses OpenAI's CLIP byte-level BPE vocabulary (49,408 tokens,
``<|startoftext|>`` = 49406, ``<|endoftext|>`` = 49407); the towers differ only in how a prompt is padded
to 77 tokens:

* ``pad="eos"``: OpenAI CLIP-L (SD1, SDXL's first encoder) pads with ``<|endoftext|>`` (49407).
* ``pad="zero"``: OpenCLIP (SD2's ViT-H, SDXL's bigG) pads with id 0.

Id 0 is the ordinary token ``"!"``.  Declaring ``"!"`` as the pad *token* (as diffusers' SD2 tokenizer
files do) makes the tokenizer treat a literal "!" in a prompt as a special token with id 0 instead of
the BPE token it really is (``"hello!"`` -> 3306, 0 instead of 3306, 256), which is not what OpenCLIP
does.  So the zero-padding tokenizer keeps ``<|endoftext|>`` as its pad token and only pads with id 0.

``make_clip_vocab.py`` regenerates the vocabulary files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from transformers import CLIPTokenizer

TOKENIZER_DIR = Path(__file__).resolve().parent / "clip_tokenizer"
MAX_LENGTH = 77
BOS_ID = 49406
EOS_ID = 49407
PadMode = Literal["eos", "zero"]


class ZeroPadCLIPTokenizer(CLIPTokenizer):
    """A ``CLIPTokenizer`` that pads with id 0 (OpenCLIP) while leaving the text "!" an ordinary token."""

    @property
    def pad_token_id(self) -> int:
        return 0

    @pad_token_id.setter
    def pad_token_id(self, value: int | None) -> None:
        if value not in (0, None):
            raise ValueError("ZeroPadCLIPTokenizer always pads with id 0; use pad='eos' for 49407")


def clip_tokenizer(pad: PadMode = "eos", *, max_length: int = MAX_LENGTH) -> CLIPTokenizer:
    """Build a CLIP tokenizer from the committed vocabulary, without any network access.

    Args:
        pad: ``"eos"`` pads with 49407 ``<|endoftext|>`` (SD1 / CLIP-L convention); ``"zero"`` pads with 0
            (OpenCLIP: SD2, SDXL's second encoder).
        max_length: ``model_max_length`` (77 for every Stable Diffusion text encoder).

    Returns:
        A ``transformers.CLIPTokenizer``; ``tok("a photo of a cat").input_ids`` is
        ``[49406, 320, 1125, 539, 320, 2368, 49407]``, and
        ``tok(text, padding="max_length", max_length=77)`` pads with the chosen id.

    Raises:
        ValueError: ``pad`` is not ``"eos"`` or ``"zero"``.
        FileNotFoundError: the vocabulary files are missing (run ``make_clip_vocab.py``).
    """
    classes: dict[str, type[CLIPTokenizer]] = {"eos": CLIPTokenizer, "zero": ZeroPadCLIPTokenizer}
    if pad not in classes:
        raise ValueError(f"pad must be 'eos' or 'zero', not {pad!r}")
    vocab, merges = TOKENIZER_DIR / "vocab.json", TOKENIZER_DIR / "merges.txt"
    for file in (vocab, merges):
        if not file.is_file():
            raise FileNotFoundError(f"{file} is missing; regenerate it with nodes/models/make_clip_vocab.py")
    return classes[pad](vocab=str(vocab), merges=str(merges), model_max_length=max_length)
