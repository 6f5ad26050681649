"""ConditioningSetTimestepRange: apply a conditioning only during part of sampling.

``start`` and ``end`` are fractions of the schedule (0 = the first, noisiest step; 1 = the end), stored as
``start_percent`` and ``end_percent`` on a copy of every entry's options.
"""

from typing import Annotated

from nodes.api import Conditioning, Range, node

Percent = Annotated[float, Range(0.0, 1.0, step=0.001)]


@node("ConditioningSetTimestepRange", category="advanced/conditioning")
def conditioning_set_timestep_range(conditioning: Conditioning, start: Percent = 0.0, end: Percent = 1.0) -> Conditioning:
    """Apply a conditioning only between two fractions of the sampling schedule."""
    return [[cond, {**options, "start_percent": start, "end_percent": end}] for cond, options in conditioning]


LATENTLOOM_NODES = [conditioning_set_timestep_range]
