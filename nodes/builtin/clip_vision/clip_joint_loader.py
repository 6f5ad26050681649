"""CLIPJointLoader: a CLIP model (text and vision towers, each with its projection) from models/clip_models.

Two folder layouts load (:mod:`nodes.models.clip_joint`): the diffusers style (``model_index.json``,
``text_encoder/`` = ``CLIPTextModelWithProjection``, ``image_encoder/`` = ``CLIPVisionModelWithProjection``,
optional ``tokenizer/`` and ``image_processor/``; Kandinsky 2.2's prior folder has this layout too), and a
transformers ``CLIPModel`` folder with a ``model_index.json`` beside its ``config.json`` so it is listed.
"""

from typing import Annotated, Any, NamedTuple

from nodes.api import (
    Choices,
    ClipVision,
    OutputInfo,
    Port,
    Widget,
    folder_fingerprint,
    load_folder,
    model_choices,
    node,
)

_NODE = "CLIPJointLoader"
_KIND = "clip_models"


class ClipJoint(NamedTuple):
    clip_text: Annotated[Any, Port("CLIP_TEXT"), OutputInfo(tooltip="The text tower with its projection.")]
    clip_vision: Annotated[ClipVision, OutputInfo(tooltip="The vision tower with its projection.")]


@node(
    _NODE,
    display_name="Load CLIP (text + vision)",
    category="loaders/clip",
    description="Loads a CLIP model with text and vision towers and their projections into the joint space.",
    fingerprint=folder_fingerprint(_KIND, "model_path"),
)
def clip_joint_loader(
    model_path: Annotated[str, Choices(model_choices(_KIND)), Widget(tooltip="A folder under models/clip_models.")],
) -> ClipJoint:
    """Load a CLIP model folder."""
    from nodes.models.clip_joint import load_clip_joint

    text, vision = load_folder(_NODE, _KIND, model_path, "clip-joint", load_clip_joint, "a CLIP model folder")
    return ClipJoint(text, vision)


LATENTLOOM_NODES = [clip_joint_loader]
