"""Imagen-style cascades: a large T5 text encoder and pixel-space diffusion at 64 px, then super-resolution.

Imagen (Saharia et al. 2022) conditions every stage on the hidden states of a frozen T5 encoder and
diffuses *pixels*: a base model makes a 64x64 picture and super-resolution models, conditioned on the
prompt and on the upscaled low-resolution picture, make 256 px and more. The low-resolution input is
noise-augmented (noised to a chosen level, which the model is told as a class label), which makes the
stage robust to the base model's artefacts. DeepFloyd IF is the open model built this way; its diffusers
folders (``models/cascades/<name>/``) load here:

* **stage I** (``IF-I-*``): ``text_encoder/`` (``T5EncoderModel``), ``tokenizer/`` (``spiece.model``
  or ``tokenizer.json``, see :mod:`nodes.models.t5_tokenizer`), ``unet/`` (a 3-channel
  ``UNet2DConditionModel`` with learned variance, reading T5 states through ``encoder_hid_proj``) and
  ``scheduler/`` (``DDPMScheduler``);
* **stage II** (``IF-II-*``): ``unet/`` (6 input channels: the noisy picture and the upscaled one;
  ``class_embed_type: "timestep"`` for the augmentation level), ``scheduler/`` and
  ``image_noising_scheduler/``. Its own ``text_encoder/``, if any, is not read: stage I's encodings are
  reused (same T5).

**The T5 encoder's residency.** T5 v1.1 XXL is about 4.7 B parameters (9.5 GB in fp16), larger than
every other component together, and it is needed only to turn a prompt into hidden states. So
:class:`T5Encoder` is a lazy handle: loading the folder reads only its configs and tokenizer.
:meth:`T5Encoder.encode` reads the weights (memory-mapped safetensors), registers them with the
runtime's model manager (:mod:`nodes.memory`) as ``<folder>:text_encoder``, encodes every prompt it has
not seen in one batch inside ``manager.run`` (which makes room by evicting idle UNets, streams T5's
blocks when it is larger than the device budget, and retries once on out-of-memory), and then lets go
of the weights: the manager holds models weakly, so the record leaves its accounts and the memory is
freed, on the device and in RAM. Without a manager the weights go to the placement's device for the
call and are freed the same way. Encodings are kept in the handle (:data:`KEEP_ENCODINGS` prompts),
and the graph's cache keeps the ``T5_EMBEDS`` value, a plain dict of tensors that ``--disk-cache`` can
also persist, so a prompt is encoded once; a new prompt reads the weights again (from the page cache
when RAM allows).

Values: ``T5_EMBEDS`` is ``{"hidden": [1, 77, W], "mask": [1, 77], "negative_hidden", "negative_mask",
"text", "negative_text", "space"}``.
"""

from __future__ import annotations

import gc
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nodes.models.parts import (
    PartError,
    declared_class,
    dtype_of,
    folder_json,
    input_device,
    load_part,
    load_scheduler,
    place,
    read_index,
    register,
    require,
    resting_device,
    run_managed,
)
from nodes.models.unclip import _unet_working, from_image, to_image

if TYPE_CHECKING:
    import torch

    from nodes.models.placement import Placement
    from nodes.models.scheduler_loop import Callback

#: Prompt encodings a :class:`T5Encoder` keeps.
KEEP_ENCODINGS = 64


class T5Encoder:
    """A lazily loaded T5 encoder with its tokenizer and an encoding cache (see the module docstring).

    Args:
        folder: the cascade folder (``text_encoder/`` and ``tokenizer/`` inside).
        placement: compute device and dtype.
        tokenizer: the folder's T5 tokenizer.
        config: ``text_encoder/config.json``.
        manager: the runtime's model manager (None: load on the placement's device).

    Attributes:
        loads: times the weights were read (for diagnostics and tests).
        encoded: prompts that went through the model (cache misses).
        last_record: the model manager's record of the last load (weakly held: dead once released).
    """

    def __init__(self, folder: Path, placement: Placement, tokenizer: Any, config: dict[str, Any],
                 manager: Any = None) -> None:
        self.folder = folder
        self.placement = placement
        self.tokenizer = tokenizer
        self.config = config
        self.width = int(config["d_model"])
        self.manager = manager
        self.space = folder.name
        self.loads = 0
        self.encoded = 0
        self.last_record: weakref.ref[Any] | None = None
        self._model: Any = None
        self._cache: OrderedDict[str, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def resident(self) -> bool:
        """True while the weights are loaded (only inside :meth:`encode`)."""
        return self._model is not None

    def encode(self, texts: list[str]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``(hidden [1, 77, W], mask [1, 77])`` per prompt, float32 on the CPU.

        Prompts are lower-cased and stripped (what DeepFloyd IF does when its caption cleaner's extra
        packages are absent), padded to 77 tokens and truncated beyond. Only prompts not seen before go
        through the model, all in one batch; the weights are loaded for that call and released after it.
        """
        prompts = [text.lower().strip() for text in texts]
        with self._lock:
            todo = list(dict.fromkeys(p for p in prompts if p not in self._cache))
            if todo:
                tokens = self.tokenizer(todo, padding="max_length", max_length=77, truncation=True,
                                        return_tensors="pt")
                hidden = self._run(tokens.input_ids, tokens.attention_mask)
                self.encoded += len(todo)
                for i, prompt in enumerate(todo):
                    self._cache[prompt] = (hidden[i:i + 1], tokens.attention_mask[i:i + 1].bool())
            for prompt in prompts:
                self._cache.move_to_end(prompt)
            result = [self._cache[p] for p in prompts]
            while len(self._cache) > KEEP_ENCODINGS:
                self._cache.popitem(last=False)
            return result

    def encode_pair(self, text: str, negative: str = "") -> dict[str, Any]:
        """The ``T5_EMBEDS`` value of a prompt and its negative."""
        (hidden, mask), (neg_hidden, neg_mask) = self.encode([text, negative])
        return {"hidden": hidden, "mask": mask, "negative_hidden": neg_hidden, "negative_mask": neg_mask,
                "text": text, "negative_text": negative, "space": self.space}

    def _run(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Load, encode under the manager (or on the placement's device), release."""
        import torch

        from nodes.memory.estimates import text_encode_memory

        home = resting_device(self.placement, self.manager)
        self._model = place(load_part(self.folder, "text_encoder", "T5EncoderModel", dtype=self.placement.dtype),
                            home, self.placement.dtype)
        self.loads += 1
        record = register(self.manager, [self._model], f"{self.space}:text_encoder", "clip")
        self.last_record = None if record is None else weakref.ref(record)

        def encode(_: int) -> torch.Tensor:
            device = input_device(record, self._model)
            with torch.no_grad():
                return self._model(input_ids=ids.to(device), attention_mask=mask.to(device))[0].float().cpu()

        working = text_encode_memory(ids.shape[0], hidden=self.width, layers=int(self.config.get("num_layers", 24)),
                                     heads=int(self.config.get("num_heads", 64)),
                                     dtype_bytes=self.placement.dtype.itemsize)
        try:
            return run_managed(record, encode, working=working, what="T5TextEncode")
        finally:
            self._model = record = None
            gc.collect()
            if self.placement.device.type == "cuda":
                torch.cuda.empty_cache()


@dataclass(frozen=True, eq=False)
class PixelModel:
    """A stage-I pixel-space UNet (DeepFloyd IF) with its scheduler; ``memory`` is its manager record."""

    unet: Any
    scheduler: Any
    space: str
    memory: Any = None

    @property
    def text_width(self) -> int:
        config = self.unet.config
        return int(config.encoder_hid_dim if config.encoder_hid_dim is not None else config.cross_attention_dim)

    def sample(
        self,
        text: dict[str, Any],
        seed: int,
        steps: int,
        guidance: float,
        width: int,
        height: int,
        batch_size: int = 1,
        callback: Callback | None = None,
    ) -> torch.Tensor:
        """Sample ``batch_size`` pictures ``[B, height, width, 3]`` from the prompt (``IFPipeline``'s loop).

        Raises:
            ValueError: the T5 states are not as wide as the UNet reads.
        """
        import torch

        from nodes.models.scheduler_loop import cpu_generator, fresh, guide, learns_variance, scheduler_sample

        guided, channels = guidance > 1.0, int(self.unet.config.in_channels)
        context = _t5_context(text, self.text_width, batch_size, guided, self.space)
        learned = learns_variance(self.scheduler)

        def run(_: int) -> torch.Tensor:
            device, dtype = input_device(self.memory, self.unet), dtype_of(self.unet)
            states = context.to(device, dtype)

            def predict(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                model_in = (torch.cat([x, x]) if guided else x).to(dtype)
                out = self.unet(model_in, t, encoder_hidden_states=states).sample.float()
                return guide(out, guidance, channels, learned)

            generator = cpu_generator(seed)
            noise = torch.randn((batch_size, channels, height, width), generator=generator, dtype=torch.float32)
            with torch.no_grad():
                return scheduler_sample(predict, noise.to(device), fresh(self.scheduler, steps), generator=generator,
                                        callback=callback)

        working = _unet_working(self.unet, (batch_size, channels, height, width), guidance)
        return to_image(run_managed(self.memory, run, working=working, what="PixelSample"))


def _t5_context(text: dict[str, Any], width: int, batch: int, guided: bool, space: str) -> torch.Tensor:
    """``[uncond; cond]`` T5 states repeated to ``batch`` (``cond`` alone without guidance)."""
    from nodes.models.scheduler_loop import pair, repeat_to

    require(text["hidden"].shape[-1] == width, space,
            f"the UNet reads {width}-wide T5 states but the prompt was encoded {text['hidden'].shape[-1]} wide: "
            "encode it with the cascade's own T5 encoder")
    cond = repeat_to(text["hidden"], batch, "the prompt")
    uncond = repeat_to(text["negative_hidden"], batch, "the negative prompt")
    return pair(cond, uncond, guided)


@dataclass(frozen=True, eq=False)
class IFSuperRes:
    """A stage-II super-resolution UNet with noise augmentation (DeepFloyd IF-II); ``memory``: its manager record."""

    unet: Any
    scheduler: Any
    noising_scheduler: Any
    space: str
    memory: Any = None
    needs_text = True
    takes_noise_level = True

    def upscale(
        self,
        image: torch.Tensor,
        text: dict[str, Any] | None,
        seed: int,
        steps: int,
        guidance: float,
        noise_level: int,
        width: int,
        height: int,
        callback: Callback | None = None,
    ) -> torch.Tensor:
        """IMAGE ``[B, h, w, 3]`` -> IMAGE ``[B, height, width, 3]`` (``IFSuperResolutionPipeline``'s loop).

        The low-resolution picture is upscaled (bilinear), noised to ``noise_level`` with the
        image-noising scheduler, and given to the UNet beside the noisy sample at every step, with the
        level as its class label. Noise is drawn in the pipeline's order: the initial sample, then the
        augmentation noise, then the scheduler's per-step noise.

        Raises:
            ValueError: no prompt encoding, or an out-of-range level.
        """
        import torch
        import torch.nn.functional as F

        from nodes.models.scheduler_loop import cpu_generator, fresh, guide, learns_variance, scheduler_sample

        if text is None:
            raise ValueError("this super-resolution stage reads the prompt: connect the T5_EMBEDS to 'text'")
        levels = int(self.noising_scheduler.config.num_train_timesteps)
        if not 0 <= noise_level < levels:
            raise ValueError(f"noise_level must be in [0, {levels - 1}], got {noise_level}")
        low = from_image(image)
        batch, guided = low.shape[0], guidance > 1.0
        config = self.unet.config
        context = _t5_context(text, int(config.encoder_hid_dim or config.cross_attention_dim), batch, guided,
                              self.space)
        channels = int(config.in_channels) // 2
        learned = learns_variance(self.scheduler)

        def run(_: int) -> torch.Tensor:
            device, dtype = input_device(self.memory, self.unet), dtype_of(self.unet)
            generator = cpu_generator(seed)
            noise = torch.randn((batch, channels, height, width), generator=generator, dtype=torch.float32)
            upscaled = F.interpolate(low, size=(height, width), mode="bilinear", align_corners=True)
            augmentation = torch.randn(upscaled.shape, generator=generator, dtype=torch.float32)
            level = torch.full((batch,), noise_level, dtype=torch.long)
            upscaled = self.noising_scheduler.add_noise(upscaled, augmentation, level).to(device)
            labels = (torch.cat([level, level]) if guided else level).to(device)
            states = context.to(device, dtype)

            def predict(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                model_in = torch.cat([x, upscaled], dim=1)
                model_in = (torch.cat([model_in, model_in]) if guided else model_in).to(dtype)
                out = self.unet(model_in, t, encoder_hidden_states=states, class_labels=labels).sample.float()
                return guide(out, guidance, channels, learned)

            with torch.no_grad():
                return scheduler_sample(predict, noise.to(device), fresh(self.scheduler, steps), generator=generator,
                                        callback=callback)

        working = _unet_working(self.unet, (batch, 2 * channels, height, width), guidance)
        return to_image(run_managed(self.memory, run, working=working, what="SuperResolution"))


# --------------------------------------------------------------------------------------------------
# Loading


def load_cascade_base(path: str | Path, placement: Placement, manager: Any = None) -> tuple[T5Encoder, PixelModel]:
    """A stage-I folder as a lazy :class:`T5Encoder` and a :class:`PixelModel` (T5 weights are not read).

    With a model manager the UNet rests on its offload device, registered as ``<folder>:unet``; the T5
    encoder is registered as ``<folder>:text_encoder`` only while it encodes.

    Raises:
        FileNotFoundError: no ``model_index.json``, or no T5 tokenizer in ``tokenizer/``.
        nodes.models.parts.PartError: a component is missing or does not load strictly, or the T5 width
            does not match what the UNet reads.
    """
    from nodes.models.t5_tokenizer import t5_tokenizer

    root = Path(path)
    index = read_index(root)
    name = root.name
    t5_config = folder_json(root / "text_encoder" / "config.json")
    if declared_class(index, "text_encoder") is None or "d_model" not in t5_config:
        raise PartError(f"{name}: a stage-I cascade folder needs text_encoder/ (T5EncoderModel) with its config.json")
    require(declared_class(index, "text_encoder") == "T5EncoderModel", name,
            f"text_encoder/ is a {declared_class(index, 'text_encoder')}; this loader takes T5EncoderModel")
    unet = place(load_part(root, "unet", "UNet2DConditionModel", index=index), resting_device(placement, manager),
                 placement.dtype)
    model = PixelModel(unet, load_scheduler(root, "scheduler", index), name,
                       register(manager, [unet], f"{name}:unet", "unet"))
    config = unet.config
    require(config.in_channels == 3 and config.out_channels in (3, 6), name,
            f"unet/ must denoise 3-channel pictures (out 3, or 6 with learned variance); it has "
            f"{config.in_channels} -> {config.out_channels}")
    width = int(t5_config["d_model"])
    require(width == model.text_width, name,
            f"the T5 encoder is {width} wide but unet/ reads {model.text_width}-wide text states")
    return T5Encoder(root, placement, t5_tokenizer(root / "tokenizer"), t5_config, manager), model


def load_cascade_super_res(path: str | Path, placement: Placement, manager: Any = None) -> IFSuperRes:
    """A stage-II folder as an :class:`IFSuperRes` (its own ``text_encoder/`` is not read).

    Raises:
        FileNotFoundError, nodes.models.parts.PartError: as :func:`load_cascade_base`; also a UNet that
            does not take the upscaled picture or a noise level.
    """
    root = Path(path)
    index = read_index(root)
    name = root.name
    unet = place(load_part(root, "unet", "UNet2DConditionModel", index=index), resting_device(placement, manager),
                 placement.dtype)
    config = unet.config
    require(config.in_channels == 6 and config.out_channels in (3, 6), name,
            f"unet/ must take 6 channels (noisy + upscaled picture) and give 3 (or 6 with learned variance); "
            f"it has {config.in_channels} -> {config.out_channels}")
    require(config.class_embed_type == "timestep", name,
            f"unet/ must take the noise-augmentation level (class_embed_type 'timestep'), not "
            f"{config.class_embed_type!r}")
    return IFSuperRes(unet, load_scheduler(root, "scheduler", index),
                      load_scheduler(root, "image_noising_scheduler", index), name,
                      register(manager, [unet], f"{name}:unet", "unet"))
