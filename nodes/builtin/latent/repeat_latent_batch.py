"""RepeatLatentBatch: repeat a latent batch ``amount`` times ("Repeat Latent Batch").

A per-item ``noise_mask`` (more than one mask) is repeated along (first padded by repetition to the latent
batch size); a single mask already applies to every item and is kept. A ``batch_index`` list is extended
so each copy gets indices shifted past the previous copy's span (``max - min + 1``), which keeps the
sampler's per-item noise distinct across copies, as in ComfyUI.
"""

import math
from typing import Annotated

from nodes.api import Latent, Range, node


@node("RepeatLatentBatch", display_name="Repeat Latent Batch", category="latent/batch")
def repeat_latent_batch(samples: Latent, amount: Annotated[int, Range(1, 64)] = 1) -> Latent:
    """Repeat a latent batch amount times (noise masks and batch indices follow)."""
    latent = samples["samples"]
    size = latent.shape[0]
    result = {**samples, "samples": latent.repeat(amount, *([1] * (latent.dim() - 1)))}
    masks = samples.get("noise_mask")
    if masks is not None and masks.shape[0] > 1:
        rest = [1] * (masks.dim() - 1)
        if masks.shape[0] < size:
            masks = masks.repeat(math.ceil(size / masks.shape[0]), *rest)[:size]
        result["noise_mask"] = masks.repeat(amount, *rest)
    if "batch_index" in samples:
        indices = list(samples["batch_index"])
        offset = max(indices) - min(indices) + 1
        result["batch_index"] = indices + [i + copy * offset for copy in range(1, amount) for i in indices]
    return result


LATENTLOOM_NODES = [repeat_latent_batch]
