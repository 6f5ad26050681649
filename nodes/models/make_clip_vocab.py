"""Generate the CLIP tokenizer files in ``nodes/models/clip_tokenizer/`` from OpenAI's BPE table.

Stable Diffusion's text encoders (OpenAI CLIP ViT-L/14, OpenCLIP ViT-H/14 and ViT-bigG/14) all use the
same byte-level BPE vocabulary, ``bpe_simple_vocab_16e6.txt.gz`` (MIT licence, from OpenAI's CLIP
repository).  It ships inside the PyPI packages ``open_clip_torch``, ``clip-anytorch`` and ``openai-clip``;
none of them may be installed here (each pulls a CUDA build of torch), so fetch one wheel without
dependencies and point this script at it::

    pip download --no-deps -d /tmp/x open_clip_torch
    .venv/bin/python -m nodes.models.make_clip_vocab /tmp/x/open_clip_torch-*.whl

The argument may be the wheel (any zip that contains the ``.gz``) or the ``.gz`` itself.  The script
checks the file's sha256 and writes ``vocab.json`` and ``merges.txt`` in the layout that
``transformers.CLIPTokenizer`` (and ``tokenizers.models.BPE``) read:

* ``merges.txt``: the line ``#version: 0.2`` followed by the first 48,894 merges of the table
  (49,152 BPE tokens minus 256 byte tokens minus 2 special tokens), one ``"left right"`` pair a line.
* ``vocab.json``: token -> id for the 256 byte symbols, the same 256 symbols with the end-of-word marker
  ``</w>``, one token per merge (the pair joined), then ``<|startoftext|>`` (49406) and
  ``<|endoftext|>`` (49407): 49,408 entries.

The output is deterministic, so running the script again reproduces the committed files byte for byte.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
import zipfile
from pathlib import Path

BPE_NAME = "bpe_simple_vocab_16e6.txt.gz"
BPE_SHA256 = "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a"
NUM_MERGES = 49152 - 256 - 2
SPECIAL_TOKENS = ("<|startoftext|>", "<|endoftext|>")
OUTPUT_DIR = Path(__file__).resolve().parent / "clip_tokenizer"


def byte_symbols() -> list[str]:
    """The 256 printable stand-ins for the byte values 0..255, in CLIP's vocabulary order.

    Printable Latin-1 bytes keep their own character; the other 68 bytes (controls, space, a few
    others) are mapped, in byte order, to the code points 256, 257, ... (the GPT-2 byte-level scheme).
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("\N{INVERTED EXCLAMATION MARK}"), ord("\N{NOT SIGN}") + 1),
        *range(ord("\N{REGISTERED SIGN}"), ord("\N{LATIN SMALL LETTER Y WITH DIAERESIS}") + 1),
    ]
    remapped = [b for b in range(256) if b not in set(printable)]
    code_points = printable + [256 + i for i in range(len(remapped))]
    return [chr(c) for c in code_points]


def read_bpe_table(source: Path) -> bytes:
    """Return the gzip bytes of the BPE table from a wheel/zip or from the ``.gz`` file itself."""
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            names = [n for n in archive.namelist() if n.endswith("/" + BPE_NAME) or n == BPE_NAME]
            if not names:
                raise FileNotFoundError(f"{source} contains no {BPE_NAME}")
            return archive.read(names[0])
    return source.read_bytes()


def build_vocab_and_merges(gz_bytes: bytes) -> tuple[dict[str, int], list[str]]:
    """Decode the BPE table into (vocab, merges) exactly as CLIP's own tokenizer builds them."""
    digest = hashlib.sha256(gz_bytes).hexdigest()
    if digest != BPE_SHA256:
        raise ValueError(f"{BPE_NAME} has sha256 {digest}, expected {BPE_SHA256}")
    lines = gzip.decompress(gz_bytes).decode("utf-8").split("\n")
    merges = lines[1 : NUM_MERGES + 1]  # line 0 is the "#version" header
    if len(merges) != NUM_MERGES or any(len(m.split()) != 2 for m in merges):
        raise ValueError(f"{BPE_NAME} does not hold {NUM_MERGES} two-symbol merges")
    symbols = byte_symbols()
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m.split()) for m in merges]
    tokens += SPECIAL_TOKENS
    vocab = {token: index for index, token in enumerate(tokens)}
    if len(vocab) != len(tokens):
        raise ValueError("the BPE table produced duplicate tokens")
    return vocab, merges


def write_files(vocab: dict[str, int], merges: list[str], output_dir: Path) -> None:
    """Write ``vocab.json`` (compact, ids in order) and ``merges.txt`` (with a version header)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "vocab.json").write_text(
        json.dumps(vocab, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8"
    )
    (output_dir / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help=f"a wheel containing {BPE_NAME}, or the .gz itself")
    parser.add_argument("--output-dir", type=Path, default=OUTPUT_DIR)
    args = parser.parse_args(argv)
    vocab, merges = build_vocab_and_merges(read_bpe_table(args.source))
    write_files(vocab, merges, args.output_dir)
    print(f"wrote {len(vocab)} tokens and {len(merges)} merges to {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
