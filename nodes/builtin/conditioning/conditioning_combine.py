"""ConditioningCombine: both conditionings, one after the other ("Conditioning (Combine)").

CONDITIONING is a list of ``[tensor, options]`` entries; the sampler evaluates every entry (each with its
own area, mask, strength and timestep range) and combines their predictions, so concatenating the lists
applies both prompts.
"""

from nodes.api import Conditioning, node


@node("ConditioningCombine", display_name="Conditioning (Combine)", category="conditioning")
def conditioning_combine(conditioning_1: Conditioning, conditioning_2: Conditioning) -> Conditioning:
    """Apply two conditionings together (their entry lists joined)."""
    return list(conditioning_1) + list(conditioning_2)


LATENTLOOM_NODES = [conditioning_combine]
