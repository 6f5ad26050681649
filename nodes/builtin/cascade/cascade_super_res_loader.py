"""CascadeSuperResLoader: a super-resolution stage with noise augmentation (DeepFloyd IF stage II).

The folder (models/cascades) is ``IFSuperResolutionPipeline``'s layout: ``model_index.json``, ``unet/``
(6 input channels: the noisy picture and the upscaled one; the augmentation level as its class label),
``scheduler/`` and ``image_noising_scheduler/``. A ``text_encoder/`` in it is not read: the base stage's
T5 encodings are reused.
"""

from typing import Annotated, Any

from graph.context import runtime
from nodes.api import Choices, OutputInfo, Port, Widget, node

_NODE = "CascadeSuperResLoader"
_KIND = "cascades"


def cascade_folders() -> list[str]:
    """Folders with a ``model_index.json`` under models/cascades (the COMBO's choices)."""
    services = runtime()
    return [] if services is None else services.folders.list_models(_KIND)


def _fingerprint(model_path: str) -> str:
    from nodes.models.cache import file_signature

    _, newest, size = file_signature(runtime().folders.find_model(_KIND, model_path))
    return f"{newest}:{size}"


@node(
    _NODE,
    display_name="Load Cascade Super-Resolution (IF stage II)",
    category="loaders/cascade",
    description="Loads a noise-augmented super-resolution stage of a pixel-space cascade (DeepFloyd IF stage II).",
    fingerprint=_fingerprint,
)
def cascade_super_res_loader(
    model_path: Annotated[str, Choices(cascade_folders), Widget(tooltip="A folder under models/cascades.")],
) -> Annotated[Any, Port("SUPER_RES_MODEL"), OutputInfo(tooltip="The super-resolution stage.")]:
    """Load a stage-II cascade folder."""
    from nodes.models.cascade import load_cascade_super_res
    from nodes.models.parts import load_cached

    services = runtime()
    if services is None:
        raise RuntimeError(f"{_NODE} needs the application's folders; run it through an Engine built by build_runtime")
    try:
        path = services.folders.find_model(_KIND, model_path)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{_NODE}: model_path {model_path!r}: {exc}") from exc
    try:
        return load_cached("cascade-super-res", path, services, load_cascade_super_res)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{_NODE}: model_path {model_path!r} is not a stage-II cascade folder: {exc}") from exc


LATENTLOOM_NODES = [cascade_super_res_loader]
