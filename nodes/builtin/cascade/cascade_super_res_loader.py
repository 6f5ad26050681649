"""CascadeSuperResLoader: a super-resolution stage with noise augmentation (DeepFloyd IF stage II).

The folder (models/cascades) is ``IFSuperResolutionPipeline``'s layout: ``model_index.json``, ``unet/``
(6 input channels: the noisy picture and the upscaled one; the augmentation level as its class label),
``scheduler/`` and ``image_noising_scheduler/``. A ``text_encoder/`` in it is not read: the base stage's
T5 encodings are reused.
"""

from typing import Annotated, Any

from nodes.api import Choices, OutputInfo, Port, Widget, folder_fingerprint, load_folder, model_choices, node

_NODE = "CascadeSuperResLoader"
_KIND = "cascades"


@node(
    _NODE,
    display_name="Load Cascade Super-Resolution (IF stage II)",
    category="loaders/cascade",
    description="Loads a noise-augmented super-resolution stage of a pixel-space cascade (DeepFloyd IF stage II).",
    fingerprint=folder_fingerprint(_KIND, "model_path"),
)
def cascade_super_res_loader(
    model_path: Annotated[str, Choices(model_choices(_KIND)), Widget(tooltip="A folder under models/cascades.")],
) -> Annotated[Any, Port("SUPER_RES_MODEL"), OutputInfo(tooltip="The super-resolution stage.")]:
    """Load a stage-II cascade folder."""
    from nodes.models.cascade import load_cascade_super_res

    return load_folder(_NODE, _KIND, model_path, "cascade-super-res", load_cascade_super_res, "a stage-II cascade folder")


LATENTLOOM_NODES = [cascade_super_res_loader]
