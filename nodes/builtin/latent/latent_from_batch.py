"""LatentFromBatch: take ``length`` latents starting at ``batch_index`` out of a batch ("Latent From Batch").

Indices past the end are clamped (the last latent, then as many as remain), as in ComfyUI. The result
stays consistent for sampling: a per-item ``noise_mask`` is cut the same way (a shorter mask batch is first
repeated to the latent batch size; a single mask is kept for all), and ``batch_index`` records which
items of the original batch were taken (or the sub-list of an existing ``batch_index``), so the sampler
draws the same noise for them as it would have in the whole batch.
"""

import math
from typing import Annotated

from nodes.api import Latent, Range, node


@node("LatentFromBatch", display_name="Latent From Batch", category="latent/batch")
def latent_from_batch(
    samples: Latent,
    batch_index: Annotated[int, Range(0, 63)] = 0,
    length: Annotated[int, Range(1, 64)] = 1,
) -> Latent:
    """Take a slice of a latent batch (noise mask and batch indices follow)."""
    latent = samples["samples"]
    size = latent.shape[0]
    start = min(size - 1, batch_index)
    stop = start + min(size - start, length)
    result = {**samples, "samples": latent[start:stop].clone()}
    if "noise_mask" in samples:
        masks = samples["noise_mask"]
        if masks.shape[0] == 1:
            result["noise_mask"] = masks.clone()
        else:
            if masks.shape[0] < size:
                masks = masks.repeat(math.ceil(size / masks.shape[0]), *([1] * (masks.dim() - 1)))[:size]
            result["noise_mask"] = masks[start:stop].clone()
    if "batch_index" in samples:
        result["batch_index"] = list(samples["batch_index"][start:stop])
    else:
        result["batch_index"] = list(range(start, stop))
    return result


LATENTLOOM_NODES = [latent_from_batch]
