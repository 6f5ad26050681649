"""DALL-E 2-style stacks: a prior from CLIP text to CLIP image embeddings, and decoders from those to pixels.

unCLIP (Ramesh et al. 2022, "Hierarchical Text-Conditional Image Generation with CLIP Latents") splits
text-to-image in two: a **prior** turns the CLIP text embedding of a prompt into a CLIP *image*
embedding (a ``PriorTransformer`` denoising the image embedding, conditioned on the text embedding and
the text tower's hidden states), and a **decoder** turns that image embedding into a picture. Two
families are loaded here, from local diffusers folders:

* **unCLIP / Karlo** (``models/priors/<name>/``, the ``UnCLIPPipeline`` layout): ``text_encoder/``
  (``CLIPTextModelWithProjection``), ``tokenizer/`` (optional), ``prior/`` + ``prior_scheduler/``,
  ``text_proj/`` (``UnCLIPTextProjModel``: image embedding + text into the decoder's context tokens and
  time embedding), ``decoder/`` (a pixel-space ``UNet2DConditionModel`` with learned variance) +
  ``decoder_scheduler/``, and the super-resolution pair ``super_res_first/`` / ``super_res_last/``
  (``UNet2DModel``, the last used for the final step only) + ``super_res_scheduler/``.
* **Kandinsky 2.2** (``models/priors/<name>/``, the ``KandinskyV22PriorPipeline`` layout: ``prior/``,
  ``text_encoder/``, ``image_encoder/`` (``CLIPVisionModelWithProjection``), ``tokenizer/``,
  ``scheduler/``, ``image_processor/``) and its decoder (``models/decoders/<name>/``, the
  ``KandinskyV22Pipeline`` layout: ``unet/`` (conditioned on image embeddings only), ``movq/``
  (``VQModel``: latents to pixels) and ``scheduler/``).

Every component is loaded strictly (:func:`nodes.models.parts.load_part`) and the stack's shapes are
checked against each other at load time (prior width = text projection = text hidden width; text_proj
widths = decoder cross-attention and time-embedding widths; decoder image-embedding width = prior width;
MoVQ latent channels = UNet channels ...), each failure naming the folder and both numbers.

With the runtime's model manager (:mod:`nodes.memory`) the components rest on its offload device and are
registered as ``<folder>:<component>``; every sampling run happens inside ``manager.run`` with a working
memory estimate, so the manager decides residency, streaming and the out-of-memory retry.

Values: ``IMAGE_EMBEDS`` is a dict ``{"embeds": [B, D], "negative": [B, D] or None, "space": str}``;
``negative`` is what Kandinsky's decoder guides away from (the prior's embedding of the negative prompt,
or of an empty picture when there is none); unCLIP's decoder uses its learned unconditional embedding
instead and leaves it None.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nodes.models.clip_joint import ClipText, ClipVision, vision_from
from nodes.models.parts import (
    clip_tokenizer_for,
    dtype_of,
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

if TYPE_CHECKING:
    import torch

    from nodes.models.placement import Placement
    from nodes.models.scheduler_loop import Callback


# --------------------------------------------------------------------------------------------------
# The prior


@dataclass(frozen=True, eq=False)
class Prior:
    """A ``PriorTransformer`` with its scheduler (UnCLIP or Kandinsky 2.2).

    Attributes:
        kind: ``unclip`` or ``kandinsky`` (how the negative image embedding is made).
        image_encoder: Kandinsky's vision tower (for the empty-picture embedding), else None.
    """

    kind: Literal["unclip", "kandinsky"]
    prior: Any
    scheduler: Any
    image_encoder: ClipVision | None
    space: str
    memory: Any = None

    @property
    def dim(self) -> int:
        return int(self.prior.config.embedding_dim)

    def sample(
        self,
        text: dict[str, Any],
        seed: int,
        steps: int,
        guidance: float,
        batch_size: int = 1,
        callback: Callback | None = None,
    ) -> dict[str, Any]:
        """Sample ``batch_size`` CLIP image embeddings for a ``CLIP_TEXT_EMBEDS`` value.

        Follows the pipelines: noise ``[B, D]`` times the scheduler's initial sigma, one prior call per
        step on ``[uncond; cond]`` (the negative prompt's encodings as uncond), guidance on the predicted
        embedding, the scheduler's step, then ``post_process_latents`` (un-normalise with the learned
        CLIP mean and std). Kandinsky with a non-empty negative prompt samples the negative prompt's
        embedding alongside (guided away from itself), as ``KandinskyV22PriorPipeline`` does.

        Raises:
            ValueError: the text encoding is not as wide as the prior.
        """
        import torch

        from nodes.memory.estimates import text_encode_memory
        from nodes.models.scheduler_loop import cpu_generator, fresh, pair, scheduler_sample

        require(text["embeds"].shape[-1] == self.dim and text["hidden"].shape[-1] == self.dim, self.space,
                f"the prior is {self.dim} wide but the text encoding is {text['embeds'].shape[-1]} "
                f"(hidden {text['hidden'].shape[-1]}): encode the prompt with this stack's text encoder")
        with_negative = self.kind == "kandinsky" and bool(text.get("negative_text"))
        cond, uncond = _prior_conditioning(text, batch_size, with_negative)
        batch, guided = cond[0].shape[0], guidance > 1.0
        config = self.prior.config
        rows = batch * (2 if guided else 1)
        working = text_encode_memory(rows, hidden=config.num_attention_heads * config.attention_head_dim,
                                     layers=config.num_layers, heads=config.num_attention_heads,
                                     dtype_bytes=dtype_of(self.prior).itemsize, tokens=77 + 4)

        def run(_: int) -> torch.Tensor:
            device, dtype = input_device(self.memory, self.prior), dtype_of(self.prior)
            proj, hidden, mask = (pair(c, u, guided).to(device) for c, u in zip(cond, uncond))
            proj, hidden = proj.to(dtype), hidden.to(dtype)

            def predict(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                model_in = torch.cat([x, x]) if guided else x
                out = self.prior(model_in.to(dtype), timestep=t, proj_embedding=proj, encoder_hidden_states=hidden,
                                 attention_mask=mask).predicted_image_embedding.float()
                if not guided:
                    return out
                out_u, out_c = out.chunk(2)
                return out_u + guidance * (out_c - out_u)

            generator = cpu_generator(seed)
            noise = torch.randn((batch, self.dim), generator=generator, dtype=torch.float32).to(device)
            with torch.no_grad():
                latents = scheduler_sample(predict, noise, fresh(self.scheduler, steps), generator=generator,
                                           callback=callback)
                return self.prior.post_process_latents(latents.to(dtype)).float().cpu()

        embeds = run_managed(self.memory, run, working=working, what="PriorSample")
        negative = None
        if with_negative:
            embeds, negative = embeds.chunk(2)
        elif self.image_encoder is not None:
            negative = self.image_encoder.empty_image_embeds().repeat(batch_size, 1)
        return {"embeds": embeds, "negative": negative, "space": self.space}


def _prior_conditioning(text: dict[str, Any], batch_size: int, with_negative: bool) -> tuple[list[Any], list[Any]]:
    """``(cond, uncond)``: ``[embeds, hidden, mask]`` of the prompt and of the negative, each repeated
    ``batch_size`` times; with ``with_negative`` the prompts are ``[p, n]`` guided against ``[n, n]``."""
    import torch

    cond = [text["embeds"], text["hidden"], text["mask"]]
    uncond = [text["negative_embeds"], text["negative_hidden"], text["negative_mask"]]
    if with_negative:
        cond, uncond = [torch.cat([c, u]) for c, u in zip(cond, uncond)], [torch.cat([u, u]) for u in uncond]
    return ([c.repeat_interleave(batch_size, dim=0) for c in cond],
            [u.repeat_interleave(batch_size, dim=0) for u in uncond])


# --------------------------------------------------------------------------------------------------
# Decoders


def _unet_working(unet: Any, shape: tuple[int, ...], guidance: float) -> int:
    """Working memory of one UNet evaluation on a ``shape`` sample (pixels or latents)."""
    from nodes.memory.estimates import sampling_memory

    return sampling_memory(shape, cfg=guidance if guidance > 1.0 else 1.0, dtype_bytes=dtype_of(unet).itemsize,
                           width=int(unet.config.block_out_channels[0]), family="pixel")


@dataclass(frozen=True, eq=False)
class UnCLIPDecoder:
    """unCLIP's decoder: ``text_proj`` + a pixel-space UNet with learned variance + its scheduler.

    ``memory`` is the model manager's record of ``unet`` and ``text_proj`` together (None: unmanaged).
    """

    unet: Any
    text_proj: Any
    scheduler: Any
    space: str
    memory: Any = None
    needs_text = True

    def sample(
        self,
        image_embeds: dict[str, Any],
        text: dict[str, Any] | None,
        seed: int,
        steps: int,
        guidance: float,
        width: int,
        height: int,
        callback: Callback | None = None,
    ) -> torch.Tensor:
        """Decode CLIP image embeddings to an IMAGE ``[B, height, width, 3]`` (``UnCLIPPipeline``'s decoder).

        ``text_proj`` turns the image embedding and the prompt into extra context tokens and an additive
        time embedding (with its learned unconditional embedding on the uncond half); the UNet denoises
        ``[B, 3, H, W]`` pixels; the result is clamped to ``[-1, 1]``.

        Raises:
            ValueError: no prompt encoding, or widths that do not match the stack.
        """
        import torch
        import torch.nn.functional as F

        from nodes.models.scheduler_loop import (
            cpu_generator, fresh, guide, learns_variance, pair, repeat_to, scheduler_sample,
        )

        if text is None:
            raise ValueError("an unCLIP decoder also reads the prompt: connect the CLIP_TEXT_EMBEDS to 'text'")
        embeds = image_embeds["embeds"]
        width_needed = int(self.text_proj.config.clip_embeddings_dim)
        require(embeds.shape[-1] == width_needed and text["embeds"].shape[-1] == width_needed, self.space,
                f"the decoder takes {width_needed}-wide CLIP embeddings, got image {embeds.shape[-1]} and text "
                f"{text['embeds'].shape[-1]}")
        batch, guided = embeds.shape[0], guidance > 1.0
        cond = [repeat_to(text[k], batch, "the prompt") for k in ("embeds", "hidden", "mask")]
        uncond = [repeat_to(text[k], batch, "the prompt") for k in ("negative_embeds", "negative_hidden", "negative_mask")]
        channels = int(self.unet.config.in_channels)
        learned = learns_variance(self.scheduler)

        def run(_: int) -> torch.Tensor:
            device, dtype = input_device(self.memory, self.unet), dtype_of(self.unet)
            proj, hidden, mask = (pair(c, u, guided).to(device) for c, u in zip(cond, uncond))
            with torch.no_grad():
                context, time_embeds = self.text_proj(
                    image_embeddings=embeds.to(device, dtype), prompt_embeds=proj.to(dtype),
                    text_encoder_hidden_states=hidden.to(dtype), do_classifier_free_guidance=guided,
                )
            mask = F.pad(mask, (int(self.text_proj.clip_extra_context_tokens), 0), value=True)

            def predict(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                model_in = (torch.cat([x, x]) if guided else x).to(dtype)
                out = self.unet(sample=model_in, timestep=t, encoder_hidden_states=context,
                                class_labels=time_embeds, attention_mask=mask).sample.float()
                return guide(out, guidance, channels, learned)

            generator = cpu_generator(seed)
            noise = torch.randn((batch, channels, height, width), generator=generator, dtype=torch.float32)
            with torch.no_grad():
                return scheduler_sample(predict, noise.to(device), fresh(self.scheduler, steps), generator=generator,
                                        callback=callback)

        working = _unet_working(self.unet, (batch, channels, height, width), guidance)
        pixels = run_managed(self.memory, run, working=working, what="DecoderSample")
        return to_image(pixels.clamp(-1.0, 1.0))


@dataclass(frozen=True, eq=False)
class KandinskyDecoder:
    """Kandinsky 2.2's decoder: a latent UNet conditioned on image embeddings only, and MoVQ.

    ``memory`` and ``movq_memory`` are the model manager's records of the UNet and of MoVQ.
    """

    unet: Any
    movq: Any
    scheduler: Any
    space: str
    memory: Any = None
    movq_memory: Any = None
    needs_text = False

    @property
    def scale(self) -> int:
        """MoVQ's downscaling factor (8 for the real model)."""
        return 2 ** (len(self.movq.config.block_out_channels) - 1)

    def sample(
        self,
        image_embeds: dict[str, Any],
        text: dict[str, Any] | None,
        seed: int,
        steps: int,
        guidance: float,
        width: int,
        height: int,
        callback: Callback | None = None,
    ) -> torch.Tensor:
        """Decode image embeddings to an IMAGE (``KandinskyV22Pipeline``): latents, then MoVQ.

        The latent size rounds the picture size up to a multiple of ``scale**2`` (the pipeline's
        ``downscale_height_and_width``), so 512 px gives 64 latents and the picture 512 px.

        Raises:
            ValueError: the embeddings carry no negative embedding, or have the wrong width.
        """
        import torch

        from nodes.memory.estimates import vae_decode_memory
        from nodes.models.scheduler_loop import cpu_generator, fresh, guide, learns_variance, pair, scheduler_sample

        embeds, negative = image_embeds["embeds"], image_embeds.get("negative")
        guided = guidance > 1.0
        if guided and negative is None:
            raise ValueError("a Kandinsky decoder guides away from a negative image embedding; this IMAGE_EMBEDS "
                             "has none (sample it with a Kandinsky prior, or set guidance to 1)")
        width_needed = int(self.unet.config.encoder_hid_dim)
        require(embeds.shape[-1] == width_needed, self.space,
                f"the decoder takes {width_needed}-wide image embeddings, got {embeds.shape[-1]}")
        batch, channels = embeds.shape[0], int(self.unet.config.in_channels)
        learned = learns_variance(self.scheduler)
        step = self.scale**2
        size = (-(-height // step) * self.scale, -(-width // step) * self.scale)

        def run(_: int) -> torch.Tensor:
            device, dtype = input_device(self.memory, self.unet), dtype_of(self.unet)
            cond = pair(embeds, negative if guided else embeds, guided).to(device, dtype)

            def predict(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                model_in = (torch.cat([x, x]) if guided else x).to(dtype)
                out = self.unet(sample=model_in, timestep=t, encoder_hidden_states=None,
                                added_cond_kwargs={"image_embeds": cond}).sample.float()
                return guide(out, guidance, channels, learned)

            generator = cpu_generator(seed)
            noise = torch.randn((batch, channels, *size), generator=generator, dtype=torch.float32)
            with torch.no_grad():
                return scheduler_sample(predict, noise.to(device), fresh(self.scheduler, steps), generator=generator,
                                        callback=callback)

        latents = run_managed(self.memory, run, working=_unet_working(self.unet, (batch, channels, *size), guidance),
                              what="DecoderSample")

        def decode(_: int) -> torch.Tensor:
            device, dtype = input_device(self.movq_memory, self.movq), dtype_of(self.movq)
            with torch.no_grad():
                return self.movq.decode(latents.to(device, dtype), force_not_quantize=True).sample.float().cpu()

        working = batch * vae_decode_memory(size, downscale=self.scale, dtype_bytes=dtype_of(self.movq).itemsize,
                                            width=int(self.movq.config.block_out_channels[0]))
        return to_image(run_managed(self.movq_memory, decode, working=working, what="MoVQ decode"))


# --------------------------------------------------------------------------------------------------
# unCLIP's super-resolution


@dataclass(frozen=True, eq=False)
class UnCLIPSuperRes:
    """unCLIP's 64 -> 256 stage: two ``UNet2DModel``s (``first`` for every step but the last) and a scheduler.

    They see the noisy picture and the bicubic-upscaled low-resolution one, nothing else: no prompt and
    no noise augmentation level. ``memory`` is the model manager's record of both UNets.
    """

    first: Any
    last: Any
    scheduler: Any
    space: str
    memory: Any = None
    needs_text = False
    takes_noise_level = False

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
        """IMAGE ``[B, h, w, 3]`` -> IMAGE ``[B, height, width, 3]`` (``UnCLIPPipeline``'s super-resolution)."""
        import torch
        import torch.nn.functional as F

        from nodes.models.scheduler_loop import cpu_generator, fresh, scheduler_sample

        low = from_image(image)
        channels = int(self.first.config.in_channels) // 2

        def run(_: int) -> torch.Tensor:
            device, dtype = input_device(self.memory, self.first), dtype_of(self.first)
            upscaled = F.interpolate(low.to(device), size=(height, width), mode="bicubic", align_corners=False,
                                     antialias=True)
            scheduler = fresh(self.scheduler, steps)
            final = scheduler.timesteps[-1]

            def predict(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                unet = self.last if t == final else self.first
                return unet(sample=torch.cat([x, upscaled], dim=1).to(dtype), timestep=t).sample.float()

            generator = cpu_generator(seed)
            noise = torch.randn((low.shape[0], channels, height, width), generator=generator, dtype=torch.float32)
            with torch.no_grad():
                return scheduler_sample(predict, noise.to(device), scheduler, generator=generator, callback=callback)

        working = _unet_working(self.first, (low.shape[0], 2 * channels, height, width), 1.0)
        return to_image(run_managed(self.memory, run, working=working, what="SuperResolution"))


# --------------------------------------------------------------------------------------------------
# Pixels


def to_image(pixels: torch.Tensor) -> torch.Tensor:
    """``[B, 3, H, W]`` in ``[-1, 1]`` -> IMAGE ``[B, H, W, 3]`` in ``[0, 1]``, float32 on the CPU."""
    return (pixels.float() * 0.5 + 0.5).clamp(0.0, 1.0).permute(0, 2, 3, 1).cpu().contiguous()


def from_image(image: torch.Tensor) -> torch.Tensor:
    """IMAGE ``[B, H, W, C]`` in ``[0, 1]`` -> ``[B, 3, H, W]`` in ``[-1, 1]`` (alpha dropped).

    Raises:
        ValueError: not an IMAGE-shaped tensor.
    """
    if image.ndim != 4 or image.shape[-1] < 3:
        raise ValueError(f"expected an IMAGE [batch, height, width, 3], got shape {tuple(image.shape)}")
    return image[..., :3].permute(0, 3, 1, 2).float() * 2.0 - 1.0


# --------------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True, eq=False)
class UnCLIPStack:
    """What :func:`load_unclip_stack` returns."""

    text: ClipText
    prior: Prior
    decoder: UnCLIPDecoder
    super_res: UnCLIPSuperRes


class _Folder:
    """Loads components of one folder onto the resting device and registers them as ``<folder>:<name>``."""

    def __init__(self, path: str | Path, placement: Placement, manager: Any) -> None:
        self.root = Path(path)
        self.index = read_index(self.root)
        self.name = self.root.name
        self.placement, self.manager = placement, manager
        self.home = resting_device(placement, manager)

    def part(self, sub: str, cls: str, *, vae: bool = False) -> Any:
        module = load_part(self.root, sub, cls, index=self.index)
        return place(module, self.home, self.placement.vae_dtype if vae else self.placement.dtype)

    def register(self, label: str, *modules: Any, kind: str = "model") -> Any:
        return register(self.manager, modules, f"{self.name}:{label}", kind)

    def scheduler(self, sub: str) -> Any:
        return load_scheduler(self.root, sub, self.index)


def load_unclip_stack(path: str | Path, placement: Placement, manager: Any = None) -> UnCLIPStack:
    """Load an ``UnCLIPPipeline`` folder (Karlo's layout; see the module docstring).

    With a model manager the components rest on its offload device, registered as ``<folder>:text_encoder``,
    ``:prior``, ``:decoder`` (with ``text_proj``) and ``:super_res`` (both UNets).

    Raises:
        FileNotFoundError: no ``model_index.json``.
        nodes.models.parts.PartError: a component is missing, does not load strictly, or does not fit
            the others.
    """
    f = _Folder(path, placement, manager)
    encoder = f.part("text_encoder", "CLIPTextModelWithProjection")
    text = ClipText(encoder, clip_tokenizer_for(f.root), f.name, f.register("text_encoder", encoder, kind="clip"))
    prior_model = f.part("prior", "PriorTransformer")
    prior = Prior("unclip", prior_model, f.scheduler("prior_scheduler"), None, f.name, f.register("prior", prior_model))
    text_proj, unet = f.part("text_proj", "UnCLIPTextProjModel"), f.part("decoder", "UNet2DConditionModel")
    decoder = UnCLIPDecoder(unet, text_proj, f.scheduler("decoder_scheduler"), f.name,
                            f.register("decoder", unet, text_proj, kind="unet"))
    first, last = f.part("super_res_first", "UNet2DModel"), f.part("super_res_last", "UNet2DModel")
    super_res = UnCLIPSuperRes(first, last, f.scheduler("super_res_scheduler"), f.name,
                               f.register("super_res", first, last, kind="unet"))
    name = f.name
    check_prior(prior, text, name)
    tp, config = text_proj.config, unet.config
    require(tp.clip_embeddings_dim == prior.dim, name,
            f"text_proj takes {tp.clip_embeddings_dim}-wide embeddings but the prior makes {prior.dim}")
    require(tp.cross_attention_dim == config.cross_attention_dim, name,
            f"text_proj makes {tp.cross_attention_dim}-wide context but the decoder attends to "
            f"{config.cross_attention_dim}")
    require(tp.time_embed_dim == 4 * config.block_out_channels[0] and config.class_embed_type == "identity", name,
            f"text_proj makes a {tp.time_embed_dim}-wide time embedding; the decoder needs class_embed_type "
            f"'identity' and {4 * config.block_out_channels[0]}")
    for sub, model in (("super_res_first", first), ("super_res_last", last)):
        require(model.config.in_channels == 2 * config.in_channels and model.config.out_channels == config.in_channels,
                name, f"{sub} must take {2 * config.in_channels} channels (noisy + upscaled picture) and give "
                f"{config.in_channels}; it has {model.config.in_channels} -> {model.config.out_channels}")
    return UnCLIPStack(text, prior, decoder, super_res)


def check_prior(prior: Prior, text: ClipText, name: str) -> None:
    """The prior's width must equal the text projection's and the text hidden states' widths."""
    require(text.dim == prior.dim and text.width == prior.dim, name,
            f"the prior is {prior.dim} wide but the text encoder projects to {text.dim} "
            f"(hidden {text.width}); they must be one CLIP model")
    expected_tokens = int(prior.prior.config.num_embeddings)
    require(expected_tokens == 77, name, f"the prior reads {expected_tokens} text tokens; CLIP prompts have 77")


@dataclass(frozen=True, eq=False)
class KandinskyPriorStack:
    """What :func:`load_kandinsky_prior` returns."""

    text: ClipText
    vision: ClipVision
    prior: Prior


def load_kandinsky_prior(path: str | Path, placement: Placement, manager: Any = None) -> KandinskyPriorStack:
    """Load a ``KandinskyV22PriorPipeline`` folder (see the module docstring).

    Raises:
        FileNotFoundError, nodes.models.parts.PartError: as :func:`load_unclip_stack`.
    """
    f = _Folder(path, placement, manager)
    encoder = f.part("text_encoder", "CLIPTextModelWithProjection")
    text = ClipText(encoder, clip_tokenizer_for(f.root), f.name, f.register("text_encoder", encoder, kind="clip"))
    image_encoder = f.part("image_encoder", "CLIPVisionModelWithProjection")
    vision = vision_from(image_encoder, f.root, f.name, "image_processor",
                         memory=f.register("image_encoder", image_encoder, kind="clip"))
    prior_model = f.part("prior", "PriorTransformer")
    prior = Prior("kandinsky", prior_model, f.scheduler("scheduler"), vision, f.name, f.register("prior", prior_model))
    check_prior(prior, text, f.name)
    require(vision.dim == prior.dim, f.name,
            f"the image encoder projects to {vision.dim} but the prior makes {prior.dim}-wide embeddings")
    return KandinskyPriorStack(text, vision, prior)


def load_kandinsky_decoder(path: str | Path, placement: Placement, manager: Any = None) -> KandinskyDecoder:
    """Load a ``KandinskyV22Pipeline`` folder: ``unet/``, ``movq/``, ``scheduler/``.

    Raises:
        FileNotFoundError, nodes.models.parts.PartError: as :func:`load_unclip_stack`.
    """
    f = _Folder(path, placement, manager)
    unet, movq = f.part("unet", "UNet2DConditionModel"), f.part("movq", "VQModel", vae=True)
    config, name = unet.config, f.name
    require(config.encoder_hid_dim_type == "image_proj" and config.addition_embed_type == "image", name,
            "unet/ must be conditioned on image embeddings (encoder_hid_dim_type 'image_proj', "
            f"addition_embed_type 'image'); it has {config.encoder_hid_dim_type!r}, {config.addition_embed_type!r}")
    latent = int(movq.config.latent_channels)
    require(config.in_channels == latent and config.out_channels in (latent, 2 * latent), name,
            f"movq/ has {latent} latent channels but unet/ takes {config.in_channels} and gives {config.out_channels}")
    return KandinskyDecoder(unet, movq, f.scheduler("scheduler"), name, f.register("unet", unet, kind="unet"),
                            f.register("movq", movq, kind="vae"))
