"""The conditioning pack: combine, blend, concatenate, place and time CONDITIONING lists.

CONDITIONING is ComfyUI's list of ``[tensor [B, tokens, dim], options]`` entries, ``options`` holding
``pooled_output``, ``area``, ``strength``, ``mask``, ``start_percent``/``end_percent``... Nodes return new
lists with copied option dicts (inputs are never modified). One node per module; each imports only
``nodes.api`` at module level and torch inside its function.
"""

from nodes.builtin.conditioning import (
    conditioning_average,
    conditioning_combine,
    conditioning_concat,
    conditioning_set_area,
    conditioning_set_timestep_range,
    conditioning_zero_out,
)

LATENTLOOM_NODES = [
    *conditioning_combine.LATENTLOOM_NODES,
    *conditioning_average.LATENTLOOM_NODES,
    *conditioning_concat.LATENTLOOM_NODES,
    *conditioning_set_area.LATENTLOOM_NODES,
    *conditioning_set_timestep_range.LATENTLOOM_NODES,
    *conditioning_zero_out.LATENTLOOM_NODES,
]
