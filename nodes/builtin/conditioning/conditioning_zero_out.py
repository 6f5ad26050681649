"""ConditioningZeroOut: the same conditioning with every embedding set to zeros.

The token embeddings and the ``pooled_output`` (and ``conditioning_lyrics``, for audio models) become
zeros of the same shape; other options are kept. Used as the "empty" negative of models trained that way.
"""

from nodes.api import Conditioning, node

_ZEROED = ("pooled_output", "conditioning_lyrics")


@node("ConditioningZeroOut", category="advanced/conditioning")
def conditioning_zero_out(conditioning: Conditioning) -> Conditioning:
    """Replace the embeddings of a conditioning (and its pooled output) with zeros."""
    import torch

    out = []
    for cond, options in conditioning:
        new_options = dict(options)
        for key in _ZEROED:
            if new_options.get(key) is not None:
                new_options[key] = torch.zeros_like(new_options[key])
        out.append([torch.zeros_like(cond), new_options])
    return out


LATENTLOOM_NODES = [conditioning_zero_out]
