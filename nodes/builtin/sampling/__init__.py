"""The sampling pack: KSampler and KSamplerAdvanced (ComfyUI's names, inputs and semantics).

The algorithms live in :mod:`nodes.sampling`; these files only adapt node inputs to it, report a progress
event per step and, when a preview method is on, a cheap latent-to-RGB preview image with each step.
"""

from nodes.builtin.sampling import ksampler, ksampler_advanced

LATENTLOOM_NODES = [*ksampler.LATENTLOOM_NODES, *ksampler_advanced.LATENTLOOM_NODES]
