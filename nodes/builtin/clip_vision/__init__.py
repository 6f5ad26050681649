"""The CLIP pack: CLIP's joint text-image space, for scoring and ranking pictures against a prompt.

CLIPJointLoader (text and vision towers with projections), CLIPVisionEncode (ComfyUI's node), CLIPSimilarity
(cosine of the prompt's and each picture's embedding) and RankImages (best first, top k). Text is encoded
by CLIPTextEncodeProjected (prior pack). Models live in :mod:`nodes.models.clip_joint`; every module here
imports only ``nodes.api`` and ``graph.context`` at module level.

Port types: CLIP_TEXT, CLIP_VISION, CLIP_VISION_OUTPUT, CLIP_TEXT_EMBEDS, CLIP_SCORES (a list of floats).
"""

from nodes.builtin.clip_vision import clip_joint_loader, clip_similarity, clip_vision_encode, rank_images

LATENTLOOM_NODES = [
    *clip_joint_loader.LATENTLOOM_NODES,
    *clip_vision_encode.LATENTLOOM_NODES,
    *clip_similarity.LATENTLOOM_NODES,
    *rank_images.LATENTLOOM_NODES,
]
