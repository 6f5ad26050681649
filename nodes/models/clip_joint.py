"""CLIP's joint text-image space: text and vision towers with their projections, and similarity in it.

CLIP (Radford et al. 2021) trains a text tower and an image tower so that the *projections* of a caption
and of its picture point the same way: their cosine similarity is high for matching pairs. DALL-E 2's
prior predicts the image-tower embedding from the text-tower one, and "generate N, keep the best" ranks
pictures by the cosine between the prompt's embedding and each picture's.

* :class:`ClipText` encodes prompts: the projected embedding of the end-of-text token (the joint-space
  vector), the last hidden states and the attention mask (what a prior reads).
* :class:`ClipVision` encodes IMAGE batches: resize and crop to the tower's input size, normalise with
  CLIP's mean and std, and project (``image_embeds``), as ComfyUI's CLIP_VISION_OUTPUT carries them.
* :func:`cosine_scores` compares the two.

Values passed between nodes are plain dicts of tensors (so the persistent cache can store them):

``CLIP_TEXT_EMBEDS``: ``embeds`` ``[N, D]`` (projected, joint space), ``hidden`` ``[N, 77, W]``, ``mask``
``[N, 77]`` (bool), the same three for the negative prompt as ``negative_embeds`` / ``negative_hidden`` /
``negative_mask``, and ``text``, ``negative_text``, ``space`` (the folder that made them).

Folders (``models/clip_models/<name>/``), either layout:

* diffusers style (the layout of Kandinsky 2.2's prior folder, which therefore loads here too):
  ``model_index.json``, ``text_encoder/`` (``CLIPTextModelWithProjection``), ``image_encoder/``
  (``CLIPVisionModelWithProjection``), ``tokenizer/`` (optional; the committed CLIP vocabulary otherwise),
  ``image_processor/preprocessor_config.json`` (optional: ``image_mean`` / ``image_std``);
* a transformers ``CLIPModel`` folder (``config.json`` with ``"model_type": "clip"``, its weights, the
  tokenizer files, ``preprocessor_config.json``) with a ``model_index.json`` beside ``config.json`` (for
  example ``{"_class_name": "CLIPModel"}``) so that the folder is listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nodes.models.parts import (
    PartError,
    clip_tokenizer_for,
    dtype_of,
    folder_json,
    has_part,
    input_device,
    load_part,
    place,
    read_index,
    register,
    require,
    resting_device,
    run_managed,
)

if TYPE_CHECKING:
    import torch

    from nodes.models.placement import Placement

#: CLIP's image normalisation (OpenAI's values; the folder's preprocessor config wins when present).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
Crop = Literal["center", "none"]


@dataclass(frozen=True, eq=False)
class ClipText:
    """A CLIP text tower with its projection (``CLIPTextModelWithProjection`` or a whole ``CLIPModel``).

    Attributes:
        module: has ``text_model`` and ``text_projection``.
        tokenizer: a CLIP tokenizer (77 tokens).
        space: the folder it came from, recorded in what it encodes.
        memory: the model manager's record (None: unmanaged).
    """

    module: Any
    tokenizer: Any
    space: str
    memory: Any = None

    @property
    def width(self) -> int:
        """Width of the hidden states."""
        return int(self.module.text_projection.in_features)

    @property
    def dim(self) -> int:
        """Width of the joint space (the projection's output)."""
        return int(self.module.text_projection.out_features)

    def encode_texts(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(embeds [N, D], hidden [N, 77, W], mask [N, 77])`` for ``texts``, float32 on the CPU.

        Tokens are padded to 77 and truncated beyond, as unCLIP and Kandinsky encode prompts; the
        tower runs without an attention mask (as those pipelines call it) and the mask is returned for
        the prior.
        """
        import torch

        from nodes.memory.estimates import text_encode_memory

        tokens = self.tokenizer(texts, padding="max_length", max_length=77, truncation=True, return_tensors="pt")

        def encode(_: int) -> tuple[torch.Tensor, torch.Tensor]:
            device = input_device(self.memory, self.module)
            with torch.no_grad():
                out = self.module.text_model(input_ids=tokens.input_ids.to(device))
                embeds = self.module.text_projection(out.pooler_output)
            return embeds.float().cpu(), out.last_hidden_state.float().cpu()

        working = text_encode_memory(len(texts), **_tower_shape(self.module, "text_config"))
        embeds, hidden = run_managed(self.memory, encode, working=working, what="CLIP text encode")
        return embeds, hidden, tokens.attention_mask.bool()

    def encode(self, text: str, negative: str = "") -> dict[str, Any]:
        """The ``CLIP_TEXT_EMBEDS`` value of a prompt and its negative (see the module docstring)."""
        embeds, hidden, mask = self.encode_texts([text, negative])
        return {
            "embeds": embeds[:1], "hidden": hidden[:1], "mask": mask[:1],
            "negative_embeds": embeds[1:], "negative_hidden": hidden[1:], "negative_mask": mask[1:],
            "text": text, "negative_text": negative, "space": self.space,
        }


@dataclass(frozen=True, eq=False)
class ClipVision:
    """A CLIP vision tower with its projection (``CLIPVisionModelWithProjection`` or a ``CLIPModel``).

    Attributes:
        module: has ``vision_model`` and ``visual_projection``.
        image_size: the tower's input size (its config's ``image_size``).
        mean, std: per-channel normalisation.
        space: the folder it came from.
        memory: the model manager's record (None: unmanaged).
    """

    module: Any
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    space: str
    memory: Any = None

    @property
    def dim(self) -> int:
        return int(self.module.visual_projection.out_features)

    def preprocess(self, images: torch.Tensor, crop: Crop = "center") -> torch.Tensor:
        """IMAGE ``[B, H, W, C]`` in 0..1 -> normalised ``[B, 3, S, S]`` pixels for the tower.

        ``center`` resizes the shorter side to ``S`` (bicubic, antialiased) and cuts the middle square,
        as CLIP's image processor does; ``none`` squashes the whole picture to ``S x S`` (ComfyUI's
        ``crop="none"``). Channels beyond three (alpha) are dropped.
        """
        import torch
        import torch.nn.functional as F

        if images.ndim != 4 or images.shape[-1] < 3:
            raise ValueError(f"expected an IMAGE [batch, height, width, 3], got shape {tuple(images.shape)}")
        pixels = images[..., :3].permute(0, 3, 1, 2).float()
        size = self.image_size
        height, width = pixels.shape[-2:]
        if crop == "center":
            scale = size / min(height, width)
            target = (max(size, round(height * scale)), max(size, round(width * scale)))
        else:
            target = (size, size)
        pixels = F.interpolate(pixels, size=target, mode="bicubic", antialias=True, align_corners=False)
        top, left = (pixels.shape[-2] - size) // 2, (pixels.shape[-1] - size) // 2
        pixels = pixels[..., top:top + size, left:left + size].clamp(0.0, 1.0)
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return (pixels - mean) / std

    def encode_pixels(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(image_embeds [B, D], last_hidden_state, penultimate_hidden_states)`` of tower-ready pixels."""
        import torch

        from nodes.memory.estimates import text_encode_memory

        def encode(_: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            device = input_device(self.memory, self.module)
            with torch.no_grad():
                out = self.module.vision_model(
                    pixel_values=pixels.to(device, dtype_of(self.module)), output_hidden_states=True
                )
                embeds = self.module.visual_projection(out.pooler_output)
            return embeds.float().cpu(), out.last_hidden_state.float().cpu(), out.hidden_states[-2].float().cpu()

        shape = _tower_shape(self.module, "vision_config")
        patches = (self.image_size // int(_config(self.module, "vision_config").patch_size)) ** 2 + 1
        working = text_encode_memory(pixels.shape[0], tokens=patches, **shape)
        return run_managed(self.memory, encode, working=working, what="CLIP vision encode")

    def encode(self, images: torch.Tensor, crop: Crop = "center") -> ClipVisionOutput:
        """ComfyUI's CLIP_VISION_OUTPUT for an IMAGE batch."""
        embeds, last, penultimate = self.encode_pixels(self.preprocess(images, crop))
        return ClipVisionOutput(image_embeds=embeds, last_hidden_state=last, penultimate_hidden_states=penultimate,
                                space=self.space)

    def empty_image_embeds(self) -> torch.Tensor:
        """The embedding of an all-zero input ``[1, D]`` (Kandinsky 2.2's negative image embedding)."""
        import torch

        size = self.image_size
        return self.encode_pixels(torch.zeros(1, 3, size, size))[0]


class ClipVisionOutput(dict):  # type: ignore[type-arg]
    """ComfyUI's CLIP_VISION_OUTPUT: ``image_embeds``, ``last_hidden_state``, ``penultimate_hidden_states``
    by key or attribute (``out["image_embeds"]`` / ``out.image_embeds``), plus the ``space`` it belongs to."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def cosine_scores(text_embeds: torch.Tensor, image_embeds: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of each image embedding ``[B, D]`` with the text embedding ``[1, D]``: ``[B]``.

    Raises:
        ValueError: the widths differ (the two towers are not from one joint space).
    """
    import torch.nn.functional as F

    if text_embeds.shape[-1] != image_embeds.shape[-1]:
        raise ValueError(
            f"the text embedding is {text_embeds.shape[-1]} wide and the image embeddings "
            f"{image_embeds.shape[-1]}: they come from different CLIP models; encode both with one model's towers"
        )
    text = F.normalize(text_embeds.float()[:1], dim=-1)
    return (F.normalize(image_embeds.float(), dim=-1) @ text.T).squeeze(-1)


def _config(module: Any, part: str) -> Any:
    """The tower's config (a ``CLIPModel`` keeps each tower's under ``text_config`` / ``vision_config``)."""
    return getattr(module.config, part, module.config)


def _tower_shape(module: Any, part: str) -> dict[str, int]:
    """The sizes :func:`nodes.memory.estimates.text_encode_memory` reads."""
    config = _config(module, part)
    return {"hidden": int(config.hidden_size), "layers": int(config.num_hidden_layers),
            "heads": int(config.num_attention_heads), "dtype_bytes": dtype_of(module).itemsize}


# --------------------------------------------------------------------------------------------------
# Loading


def _normalisation(*configs: dict[str, Any]) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    for config in configs:
        if "image_mean" in config and "image_std" in config:
            return tuple(config["image_mean"]), tuple(config["image_std"])  # type: ignore[return-value]
    return CLIP_MEAN, CLIP_STD


def vision_from(module: Any, root: Path, space: str, *processor_dirs: str, memory: Any = None) -> ClipVision:
    """A :class:`ClipVision` over ``module``, normalised as the folder's preprocessor config says."""
    configs = [folder_json(root / d / "preprocessor_config.json") for d in processor_dirs]
    mean, std = _normalisation(*configs)
    return ClipVision(module, int(_config(module, "vision_config").image_size), mean, std, space, memory)


def load_clip_joint(path: str | Path, placement: Placement, manager: Any = None) -> tuple[ClipText, ClipVision]:
    """Load a CLIP model folder (either layout in the module docstring) as text and vision towers.

    With a model manager the towers rest on its offload device, registered as ``<folder>:clip`` (a
    ``CLIPModel``, one record) or ``<folder>:text_encoder`` and ``<folder>:image_encoder``.

    Raises:
        FileNotFoundError: not a folder with ``model_index.json``.
        PartError: a tower is missing, its weights do not fit, or the two projections differ in width.
    """
    root = Path(path)
    index = read_index(root)
    space = root.name
    home = resting_device(placement, manager)
    config = folder_json(root / "config.json")
    if config.get("model_type") == "clip":
        model = place(load_part(root, "", "CLIPModel"), home, placement.dtype)
        memory = register(manager, [model], f"{space}:clip", "clip")
        text = ClipText(model, clip_tokenizer_for(root, "."), space, memory)
        vision = vision_from(model, root, space, ".", memory=memory)
    else:
        for name in ("text_encoder", "image_encoder"):
            if not has_part(root, index, name):
                raise PartError(f"{space}: a CLIP model folder needs text_encoder/ and image_encoder/ "
                                f"(with projections); {name}/ is missing")
        text_model = place(load_part(root, "text_encoder", "CLIPTextModelWithProjection", index=index), home,
                           placement.dtype)
        vision_model = place(load_part(root, "image_encoder", "CLIPVisionModelWithProjection", index=index), home,
                             placement.dtype)
        text = ClipText(text_model, clip_tokenizer_for(root), space,
                        register(manager, [text_model], f"{space}:text_encoder", "clip"))
        vision = vision_from(vision_model, root, space, "image_processor", "feature_extractor",
                             memory=register(manager, [vision_model], f"{space}:image_encoder", "clip"))
    require(text.dim == vision.dim, space,
            f"the text projection is {text.dim} wide and the image projection {vision.dim}: not one joint space")
    return text, vision
