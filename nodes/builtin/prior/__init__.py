"""The prior pack: DALL-E 2-style generation, a prior from CLIP text to CLIP image embeddings and a decoder.

Loaders for unCLIP (Karlo) stacks and Kandinsky 2.2's prior and decoder, CLIPTextEncodeProjected (a prompt
in CLIP's joint space), PriorSample and DecoderSample. Super-resolution is in the cascade pack. Models
and algorithms live in :mod:`nodes.models.unclip`; every module here imports only ``nodes.api`` and
``graph.context`` at module level (torch, diffusers and transformers inside the functions).

Port types: CLIP_TEXT (a text tower with projection), CLIP_VISION, PRIOR, DECODER, SUPER_RES_MODEL,
CLIP_TEXT_EMBEDS and IMAGE_EMBEDS (dicts of tensors, see :mod:`nodes.models.clip_joint` and
:mod:`nodes.models.unclip`).
"""

from nodes.builtin.prior import (
    clip_text_encode_projected,
    decoder_sample,
    kandinsky_decoder_loader,
    kandinsky_prior_loader,
    prior_sample,
    unclip_stack_loader,
)

LATENTLOOM_NODES = [
    *unclip_stack_loader.LATENTLOOM_NODES,
    *kandinsky_prior_loader.LATENTLOOM_NODES,
    *kandinsky_decoder_loader.LATENTLOOM_NODES,
    *clip_text_encode_projected.LATENTLOOM_NODES,
    *prior_sample.LATENTLOOM_NODES,
    *decoder_sample.LATENTLOOM_NODES,
]
