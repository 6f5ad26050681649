"""The cascade pack: Imagen-style generation, a T5 encoder and pixel-space diffusion at 64 px, then
super-resolution.

Loaders for DeepFloyd IF stages (CascadeBaseLoader, CascadeSuperResLoader), T5TextEncode, PixelSample and
SuperResolution (which also runs unCLIP's super-resolution). Models and algorithms live in
:mod:`nodes.models.cascade`; every module here imports only ``nodes.api`` and ``graph.context`` at module
level.

Port types: T5_ENCODER, T5_EMBEDS (a dict of tensors), PIXEL_MODEL, SUPER_RES_MODEL.
"""

from nodes.builtin.cascade import (
    cascade_base_loader,
    cascade_super_res_loader,
    pixel_sample,
    super_resolution,
    t5_text_encode,
)

LATENTLOOM_NODES = [
    *cascade_base_loader.LATENTLOOM_NODES,
    *cascade_super_res_loader.LATENTLOOM_NODES,
    *t5_text_encode.LATENTLOOM_NODES,
    *pixel_sample.LATENTLOOM_NODES,
    *super_resolution.LATENTLOOM_NODES,
]
