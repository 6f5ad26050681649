"""ConditioningAverage: blend the embedding of ``conditioning_from`` into ``conditioning_to``
("Conditioning (Average)").

For each entry of ``conditioning_to``: ``to * s + from * (1 - s)`` with ``s = conditioning_to_strength``,
where ``from`` (the first entry of ``conditioning_from``; others are ignored with a warning) is cut or
zero-padded to the token count of ``to``. The pooled outputs are blended the same way; when ``to`` has no
pooled output, the one of ``from`` is used. The options of ``to`` (area, mask...) are kept.
"""

import logging
from typing import Annotated

from nodes.api import Conditioning, Range, node

logger = logging.getLogger(__name__)


@node("ConditioningAverage", display_name="Conditioning (Average)", category="conditioning")
def conditioning_average(
    conditioning_to: Conditioning,
    conditioning_from: Conditioning,
    conditioning_to_strength: Annotated[float, Range(0.0, 1.0, step=0.01)] = 1.0,
) -> Conditioning:
    """Blend two conditionings: to * strength + from * (1 - strength)."""
    import torch

    if len(conditioning_from) > 1:
        logger.warning("ConditioningAverage: conditioning_from has %d entries; only the first is used",
                       len(conditioning_from))
    cond_from = conditioning_from[0][0]
    pooled_from = conditioning_from[0][1].get("pooled_output")
    strength = conditioning_to_strength
    out = []
    for cond_to, options in conditioning_to:
        tokens = cond_to.shape[1]
        matched = cond_from[:, :tokens]
        if matched.shape[1] < tokens:
            padding = torch.zeros(
                (matched.shape[0], tokens - matched.shape[1], matched.shape[2]), dtype=matched.dtype, device=matched.device
            )
            matched = torch.cat([matched, padding], dim=1)
        blended = cond_to * strength + matched * (1.0 - strength)
        new_options = dict(options)
        pooled_to = options.get("pooled_output", pooled_from)
        if pooled_from is not None and pooled_to is not None:
            new_options["pooled_output"] = pooled_to * strength + pooled_from * (1.0 - strength)
        elif pooled_from is not None:
            new_options["pooled_output"] = pooled_from
        out.append([blended, new_options])
    return out


LATENTLOOM_NODES = [conditioning_average]
