"""DecoderSample: CLIP image embeddings to pictures (unCLIP's decoder, or Kandinsky 2.2's UNet + MoVQ).

* unCLIP (from UnCLIPStackLoader): ``text_proj`` turns the image embedding and the prompt (``text``,
  required) into context tokens and a time embedding; the UNet denoises pixels (64 px as trained).
  Defaults are Karlo's: 25 steps, guidance 8.
* Kandinsky 2.2 (KandinskyDecoderLoader): the UNet denoises latents conditioned on the image embedding
  alone (``text`` is not read), guided away from the negative image embedding, and MoVQ decodes them.

The sampling loop is the decoder's diffusers scheduler with a CPU generator seeded from ``seed``
(:mod:`nodes.models.scheduler_loop`); one picture per image embedding.
"""

from typing import Annotated, Any

from graph.context import progress
from nodes.api import Image, OutputInfo, Port, Range, Widget, node

SEED = Range(0, 0xFFFFFFFFFFFFFFFF)


@node(
    "DecoderSample",
    category="sampling/prior",
    description="Decodes CLIP image embeddings into pictures (unCLIP / Kandinsky 2.2 decoders).",
)
def decoder_sample(
    decoder: Annotated[Any, Port("DECODER"), Widget(tooltip="The decoder.")],
    image_embeds: Annotated[Any, Port("IMAGE_EMBEDS"), Widget(tooltip="CLIP image embeddings, from PriorSample.")],
    seed: Annotated[int, SEED, Widget(control_after_generate=True, tooltip="The seed of the decoder's noise.")] = 0,
    steps: Annotated[int, Range(1, 1000), Widget(tooltip="Denoising steps.")] = 25,
    guidance: Annotated[float, Range(1.0, 100.0, step=0.1, round=0.01), Widget(tooltip="Classifier-free guidance scale (1: none).")] = 8.0,
    width: Annotated[int, Range(16, 4096, step=8), Widget(tooltip="Picture width (unCLIP's decoder was trained at 64).")] = 64,
    height: Annotated[int, Range(16, 4096, step=8), Widget(tooltip="Picture height.")] = 64,
    text: Annotated[Any, Port("CLIP_TEXT_EMBEDS"), Widget(tooltip="The prompt (unCLIP's decoder reads it; Kandinsky's does not).")] | None = None,
) -> Annotated[Image, OutputInfo(tooltip="The decoded pictures.")]:
    """Decode image embeddings."""
    if decoder.needs_text and text is None:
        raise ValueError("DecoderSample: this decoder (unCLIP) also reads the prompt; connect CLIP_TEXT_EMBEDS to 'text'")
    return decoder.sample(image_embeds, text, seed, steps, guidance, width, height,
                          callback=lambda step: progress(step["i"] + 1, step["total"]))


LATENTLOOM_NODES = [decoder_sample]
