"""CLIPJointLoader: a CLIP model (text and vision towers, each with its projection) from models/clip_models.

Two folder layouts load (:mod:`nodes.models.clip_joint`): the diffusers style (``model_index.json``,
``text_encoder/`` = ``CLIPTextModelWithProjection``, ``image_encoder/`` = ``CLIPVisionModelWithProjection``,
optional ``tokenizer/`` and ``image_processor/``; Kandinsky 2.2's prior folder has this layout too), and a
transformers ``CLIPModel`` folder with a ``model_index.json`` beside its ``config.json`` so it is listed.
"""

from typing import Annotated, Any, NamedTuple

from graph.context import runtime
from nodes.api import Choices, ClipVision, OutputInfo, Port, Widget, node

_NODE = "CLIPJointLoader"
_KIND = "clip_models"


def clip_folders() -> list[str]:
    """Folders with a ``model_index.json`` under models/clip_models (the COMBO's choices)."""
    services = runtime()
    return [] if services is None else services.folders.list_models(_KIND)


def _fingerprint(model_path: str) -> str:
    from nodes.models.cache import file_signature

    _, newest, size = file_signature(runtime().folders.find_model(_KIND, model_path))
    return f"{newest}:{size}"


class ClipJoint(NamedTuple):
    clip_text: Annotated[Any, Port("CLIP_TEXT"), OutputInfo(tooltip="The text tower with its projection.")]
    clip_vision: Annotated[ClipVision, OutputInfo(tooltip="The vision tower with its projection.")]


@node(
    _NODE,
    display_name="Load CLIP (text + vision)",
    category="loaders/clip",
    description="Loads a CLIP model with text and vision towers and their projections into the joint space.",
    fingerprint=_fingerprint,
)
def clip_joint_loader(
    model_path: Annotated[str, Choices(clip_folders), Widget(tooltip="A folder under models/clip_models.")],
) -> ClipJoint:
    """Load a CLIP model folder."""
    from nodes.models.clip_joint import load_clip_joint
    from nodes.models.parts import load_cached

    services = runtime()
    if services is None:
        raise RuntimeError(f"{_NODE} needs the application's folders; run it through an Engine built by build_runtime")
    try:
        path = services.folders.find_model(_KIND, model_path)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{_NODE}: model_path {model_path!r}: {exc}") from exc
    try:
        text, vision = load_cached("clip-joint", path, services, load_clip_joint)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{_NODE}: model_path {model_path!r} is not a CLIP model folder: {exc}") from exc
    return ClipJoint(text, vision)


LATENTLOOM_NODES = [clip_joint_loader]
