"""ConditioningConcat: append the tokens of ``conditioning_from`` to each entry of ``conditioning_to``
("Conditioning (Concat)").

The embeddings are joined along the token axis (``[B, n, dim] + [B, m, dim] -> [B, n + m, dim]``), which
attends to both prompts in one pass, unlike Combine's separate passes. Only the first entry of
``conditioning_from`` is used (a warning says so); the options of ``to`` are kept.
"""

import logging

from nodes.api import Conditioning, node

logger = logging.getLogger(__name__)


@node("ConditioningConcat", display_name="Conditioning (Concat)", category="conditioning")
def conditioning_concat(conditioning_to: Conditioning, conditioning_from: Conditioning) -> Conditioning:
    """Append the tokens of one conditioning to another's."""
    import torch

    if len(conditioning_from) > 1:
        logger.warning("ConditioningConcat: conditioning_from has %d entries; only the first is used",
                       len(conditioning_from))
    cond_from = conditioning_from[0][0]
    return [[torch.cat((cond_to, cond_from), dim=1), dict(options)] for cond_to, options in conditioning_to]


LATENTLOOM_NODES = [conditioning_concat]
