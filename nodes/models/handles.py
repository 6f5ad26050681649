"""The values that flow on MODEL, CLIP and VAE ports.

Handles are immutable.  A node that changes a model (a LoRA, a different CLIP layer) returns a new
handle; the input handle, and everything the graph cache keeps of it, stays valid.  Weights are shared:
clones refer to the same modules through a :class:`~nodes.models.patching.PatchState` and differ only
in their patch tuples, which are applied when a clone is *used* (see :mod:`nodes.models.patching` for
the apply/restore policy).  Read module weights only inside ``use()``.

* :class:`ModelHandle` (MODEL): the diffusers UNet, its :class:`~nodes.models.info.ModelInfo` and
  patches.  ``with model.use() as diffusion_model:`` yields the
  :class:`nodes.sampling.model.DiffusionModel` the sampler takes, with the patches applied.
* :class:`ClipHandle` (CLIP): the text encoders, tokenizers, the hidden layer each encoder conditions
  on and patches.  ``encode(text) -> (cond [1, tokens, dim], pooled [1, dim])``.
* :class:`VaeHandle` (VAE): an ``AutoencoderKL`` and its latent scaling.  LATENT samples are the VAE's
  own latents, as in ComfyUI (so latent files and latent-math custom nodes agree); the sampler scales
  them into the UNet's space and back (``DiffusionModel.latent_in`` / ``latent_out``).  IMAGE is
  ComfyUI's float32 ``[B, H, W, 3]`` in 0..1.

Text encoding (ComfyUI's CLIPTextEncode)
----------------------------------------
1. The prompt becomes weighted 77-token chunks (:mod:`nodes.models.prompt`), per encoder with its pad id.
2. Each encoder runs once on all chunks (plus the empty prompt's chunk when some weight is not 1).
   Its conditioning is hidden state ``layers[i]`` (``-1`` the last layer, ``-2`` the penultimate;
   beyond the encoder's depth: the final output), put through the final LayerNorm when
   ``TextEncoderInfo.final_layer_norm`` says so (SD1, SD2; not SDXL) -- which for the last layer is
   exactly the encoder's ``last_hidden_state``.
3. Weights act relative to the empty prompt: at a token of weight ``w != 1``,
   ``z = empty + (z - empty) * w`` (``empty`` at the same position); other tokens are left as they are.
4. Chunks are concatenated along the tokens (``[1, 77 * chunks, dim]``); SDXL concatenates CLIP-L's
   and OpenCLIP-G's conditioning along the features (768 + 1280 = 2048 for the real models).
5. The pooled output comes from the first chunk: the projected pooled output (``text_embeds``) of an
   encoder with a projection (SDXL's G, the one SDXL's UNet needs), else the tower's pooled output.
Results are float32 on the CPU, like ComfyUI's intermediate device.

Memory
------
A handle loaded through a runtime carries its :class:`~nodes.memory.manager.ManagedModel` (``memory``);
clones share it with the weights.  ``use()`` asks the model manager to make the weights resident first
(see :mod:`nodes.memory`), and the manager restores the patches before it moves weights, so they are
applied again on the device.  ``run(fn, working=...)``, ``encode`` and the VAE's ``decode``/``encode``
add the out-of-memory retry: idle models unloaded, then half the weights streamed, and for the VAE a
tiled pass.  A handle made without a manager (``ModelHandle.create(unet, info)``) runs where its modules are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from nodes.models.info import ModelInfo
from nodes.models.patching import PatchState, WeightPatch
from nodes.models.prompt import Chunk, empty_chunk, tokenize_weighted

if TYPE_CHECKING:
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTokenizer

    from nodes.memory.manager import ManagedModel, ModelManager
    from nodes.sampling.model import DiffusionModel

T = TypeVar("T")


def _resident(memory: ManagedModel | None, working: int = 0) -> AbstractContextManager[Any]:
    """The manager's residency block for ``memory`` (nothing to do for an unmanaged handle)."""
    return nullcontext() if memory is None else memory.manager.use(memory, working=working)


def _device(memory: ManagedModel | None, module: Any) -> torch.device:
    """Where inputs of ``module`` go: the manager's device for it, else where its first weight is."""
    return memory.device if memory is not None else next(module.parameters()).device


# --------------------------------------------------------------------------------------------------
# MODEL


@dataclass(frozen=True, eq=False)
class ModelHandle:
    """A UNet with its facts and weight patches (ComfyUI's ModelPatcher).

    Attributes:
        core: the shared module state (``core.modules[0]`` is the UNet); clones share it.
        info: what the checkpoint is (family, prediction type, schedule, latent channels).
        patches: this clone's weight patches, applied by :meth:`use`.
        memory: the model manager's record of the UNet (None: unmanaged, it runs where it is).
    """

    core: PatchState
    info: ModelInfo
    patches: tuple[WeightPatch, ...] = ()
    memory: ManagedModel | None = None

    @classmethod
    def create(
        cls, unet: UNet2DConditionModel, info: ModelInfo, manager: ModelManager | None = None, name: str = "unet"
    ) -> ModelHandle:
        """A handle with no patches for a freshly loaded UNet, registered with ``manager`` when given."""
        core = PatchState((unet,))
        memory = None if manager is None else manager.register([unet], name=name, kind="unet", on_move=[core.restore])
        return cls(core, info, memory=memory)

    @property
    def unet(self) -> UNet2DConditionModel:
        """The shared UNet; its weights are only meaningful inside :meth:`use`."""
        return self.core.modules[0]  # type: ignore[return-value]

    def is_clone(self, other: ModelHandle) -> bool:
        """Both handles share the same weights (they may differ in patches)."""
        return self.core is other.core

    def with_patches(self, patches: Iterable[WeightPatch]) -> ModelHandle:
        """A clone carrying this handle's patches plus ``patches`` (sharing the base weights).

        Raises:
            nodes.models.patching.PatchError: a patch names no parameter or does not fit its shape.
        """
        patches = tuple(patches)
        self.core.check(patches)
        return replace(self, patches=self.patches + patches)

    @contextmanager
    def use(self, working: int = 0) -> Iterator[DiffusionModel]:
        """Make the UNet resident (reserving ``working`` bytes), apply this handle's patches and yield the
        sampler's model (see :mod:`nodes.models.patching` and :mod:`nodes.memory`).

        The patches stay applied after the block until a clone with other patches (or none) is used,
        :meth:`restore` is called, or the manager moves the weights.
        """
        with _resident(self.memory, working), self.core.use(self.patches):
            yield self._diffusion_model()

    def run(self, fn: Callable[[DiffusionModel], T], *, working: int = 0, what: str = "sampling") -> T:
        """``fn(model)`` inside :meth:`use`, retried once with half the weights streamed on out-of-memory.

        Raises:
            nodes.memory.DeviceMemoryError: the retry ran out of memory too.
        """
        if self.memory is None:
            with self.use() as model:
                return fn(model)

        def attempt(_: int) -> T:
            with self.core.use(self.patches):
                return fn(self._diffusion_model())

        return self.memory.manager.run(attempt, self.memory, working=working, what=what)

    def sampling_memory(self, latent_shape: Sequence[int], cfg: float) -> int:
        """Working memory of one sampling step on a latent of ``latent_shape`` (see
        :func:`nodes.memory.estimates.sampling_memory`)."""
        from nodes.memory.estimates import sampling_memory

        dtype = next(self.unet.parameters()).dtype
        width = int(self.unet.config.block_out_channels[0])
        return sampling_memory(latent_shape, cfg=cfg, dtype_bytes=dtype.itemsize, width=width, family=self.info.family)

    def _diffusion_model(self) -> DiffusionModel:
        from nodes.sampling.model import DiffusionModel

        return DiffusionModel(
            self.unet,
            prediction_type=self.info.prediction_type,
            scheduler_config=self.info.scheduler_config,
            is_sdxl=self.info.family == "sdxl",
            latent_channels=self.info.latent_channels,
            latent_scale=self.info.scaling_factor,
            compute_device=None if self.memory is None else self.memory.device,
        )

    def restore(self) -> None:
        """Put the base weights back now (they are also restored when an unpatched clone is used)."""
        self.core.restore()

    def __repr__(self) -> str:
        return f"ModelHandle({self.info.family}, {self.info.prediction_type}, {len(self.patches)} patches)"


# --------------------------------------------------------------------------------------------------
# CLIP


@dataclass(frozen=True, eq=False)
class ClipHandle:
    """Text encoders, tokenizers and the conditioning layer of each (ComfyUI's CLIP).

    Attributes:
        core: the shared module state (``core.modules`` are the encoders, in ``info.text_encoders`` order).
        tokenizers: one per encoder.
        info: the checkpoint's facts (family, per-encoder layout, default layer, LayerNorm, pad id).
        layers: the hidden layer each encoder conditions on (ComfyUI's ``stop_at_clip_layer``).
        patches: weight patches (``WeightPatch.module`` is the encoder index).
        memory: the model manager's record of the encoders (None: unmanaged).
    """

    core: PatchState
    tokenizers: tuple[CLIPTokenizer, ...]
    info: ModelInfo
    layers: tuple[int, ...]
    patches: tuple[WeightPatch, ...] = ()
    memory: ManagedModel | None = None

    @classmethod
    def create(
        cls,
        text_encoders: Sequence[Any],
        tokenizers: Sequence[Any],
        info: ModelInfo,
        manager: ModelManager | None = None,
        name: str = "clip",
    ) -> ClipHandle:
        """A handle with the family's default layers and no patches, registered with ``manager`` when given."""
        if not len(text_encoders) == len(tokenizers) == len(info.text_encoders):
            raise ValueError(
                f"{len(text_encoders)} text encoders, {len(tokenizers)} tokenizers and "
                f"{len(info.text_encoders)} encoder infos: one of each per encoder"
            )
        layers = tuple(te.clip_layer for te in info.text_encoders)
        core = PatchState(tuple(text_encoders))
        memory = None if manager is None else manager.register(text_encoders, name=name, kind="clip", on_move=[core.restore])
        return cls(core, tuple(tokenizers), info, layers, memory=memory)

    @property
    def text_encoders(self) -> tuple[Any, ...]:
        return self.core.modules

    def with_layer(self, stop_at_clip_layer: int) -> ClipHandle:
        """A clone conditioning every encoder on hidden layer ``stop_at_clip_layer`` (CLIPSetLastLayer).

        Raises:
            ValueError: the layer is not negative.
        """
        if stop_at_clip_layer >= 0:
            raise ValueError(f"stop_at_clip_layer must be negative (-1 is the last layer), not {stop_at_clip_layer}")
        return replace(self, layers=(int(stop_at_clip_layer),) * len(self.layers))

    def with_patches(self, patches: Iterable[WeightPatch]) -> ClipHandle:
        """A clone carrying this handle's patches plus ``patches`` (sharing the base weights)."""
        patches = tuple(patches)
        self.core.check(patches)
        return replace(self, patches=self.patches + patches)

    @contextmanager
    def use(self, working: int = 0) -> Iterator[tuple[Any, ...]]:
        """Make the encoders resident, apply this handle's patches and yield the text encoders."""
        with _resident(self.memory, working), self.core.use(self.patches) as modules:
            yield modules

    def restore(self) -> None:
        """Put the base weights back now."""
        self.core.restore()

    def tokenize(self, text: str) -> tuple[list[Chunk], ...]:
        """The weighted 77-token chunks of ``text`` for each encoder (see :mod:`nodes.models.prompt`)."""
        return tuple(
            tokenize_weighted(text, tokenizer, te.pad_token_id)
            for tokenizer, te in zip(self.tokenizers, self.info.text_encoders, strict=True)
        )

    def encode(self, text: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode a prompt: ``(cond [1, 77 * chunks, dim], pooled [1, dim])``, float32 on the CPU.

        See the module docstring for the layers, weighting, chunks and pooled output.
        """
        import torch

        per_encoder = self.tokenize(text)
        if len({len(chunks) for chunks in per_encoder}) != 1:
            raise ValueError(f"encoders split the prompt into different chunk counts: {[len(c) for c in per_encoder]}")

        def encode_all(_: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
            conds, pooled = [], None
            with torch.no_grad(), self.core.use(self.patches) as encoders:
                parts = zip(encoders, per_encoder, self.layers, self.info.text_encoders, strict=True)
                for encoder, chunks, layer, te in parts:
                    device = _device(self.memory, encoder)
                    cond, pooled = _encode_chunks(encoder, chunks, layer, te.final_layer_norm, te.pad_token_id, device)
                    conds.append(cond)
            return torch.cat(conds, dim=-1), pooled  # type: ignore[return-value]

        if self.memory is None:
            return encode_all()
        working = self._encode_memory(len(per_encoder[0]) + 1)
        return self.memory.manager.run(encode_all, self.memory, working=working, what="CLIP text encode")

    def _encode_memory(self, rows: int) -> int:
        """Working memory of one encode (see :func:`nodes.memory.estimates.text_encode_memory`)."""
        from nodes.memory.estimates import text_encode_memory

        total = 0
        for encoder in self.text_encoders:
            config = encoder.config
            dtype = next(encoder.parameters()).dtype
            total = max(total, text_encode_memory(rows, hidden=config.hidden_size, layers=config.num_hidden_layers,
                                                  heads=config.num_attention_heads, dtype_bytes=dtype.itemsize))
        return total

    def __repr__(self) -> str:
        return f"ClipHandle({self.info.family}, layers={self.layers}, {len(self.patches)} patches)"


def _encode_chunks(
    encoder: Any, chunks: Sequence[Chunk], layer: int, final_layer_norm: bool, pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """One encoder's ``(cond [1, 77 * n, dim], pooled [1, dim])`` for weighted chunks, run on ``device``."""
    import torch

    weighted = any(weight != 1.0 for chunk in chunks for _, weight in chunk)
    rows = [[token for token, _ in chunk] for chunk in chunks]
    if weighted:
        rows.append([token for token, _ in empty_chunk(pad_id)])
    output = encoder(input_ids=torch.tensor(rows, device=device), output_hidden_states=True)
    tower = encoder.text_model if hasattr(encoder, "text_model") else encoder
    if abs(layer) > len(tower.encoder.layers):
        hidden = output.last_hidden_state
    else:
        hidden = output.hidden_states[layer]
        if final_layer_norm:
            hidden = tower.final_layer_norm(hidden)
    pooled = output.text_embeds if hasattr(output, "text_embeds") else output.pooler_output
    hidden = hidden.float().cpu()
    if weighted:
        empty, hidden = hidden[-1], hidden[:-1]
        weights = torch.tensor([[w for _, w in chunk] for chunk in chunks], dtype=torch.float32)[..., None]
        hidden = torch.where(weights != 1.0, empty + (hidden - empty) * weights, hidden)
    return hidden.reshape(1, -1, hidden.shape[-1]), pooled[:1].float().cpu()


# --------------------------------------------------------------------------------------------------
# VAE


@dataclass(frozen=True, eq=False)
class VaeHandle:
    """An ``AutoencoderKL`` and the scaling between its latents and the UNet's.

    Attributes:
        vae: the autoencoder (its device and dtype are the compute device and dtype).
        scaling_factor: how the UNet's latents relate to this VAE's: ``unet_latent = (vae_latent -
            shift_factor) * scaling_factor`` (0.18215 SD1/SD2, 0.13025 SDXL). LATENT values carry the VAE's
            own latents (ComfyUI's convention), so :meth:`decode` and :meth:`encode` do not scale; the
            sampler does (``nodes.sampling.model.DiffusionModel.latent_in``).
        shift_factor: 0 for the SD families.
        scale_source: how the scaling factor was decided (``checkpoint``, ``config.json``, ...).
        memory: the model manager's record of the autoencoder (None: unmanaged).

    With a manager, :meth:`decode` and :meth:`encode` reserve their working memory
    (:mod:`nodes.memory.estimates`) and, when the device runs out of memory, retry once in tiles of at
    most 512 pixels and at most half the image's longer side (overlap a quarter tile); the tiled nodes
    retry with half their tile size.
    """

    vae: AutoencoderKL
    scaling_factor: float
    shift_factor: float = 0.0
    scale_source: str = "checkpoint"
    memory: ManagedModel | None = None

    @classmethod
    def create(
        cls,
        vae: AutoencoderKL,
        scaling_factor: float,
        shift_factor: float = 0.0,
        scale_source: str = "checkpoint",
        manager: ModelManager | None = None,
        name: str = "vae",
    ) -> VaeHandle:
        """A handle, registered with ``manager`` when given."""
        memory = None if manager is None else manager.register([vae], name=name, kind="vae")
        return cls(vae, scaling_factor, shift_factor, scale_source, memory)

    @property
    def downscale(self) -> int:
        """Pixels per latent pixel (8 for the SD families)."""
        return int(2 ** (len(self.vae.config.block_out_channels) - 1))

    @property
    def latent_channels(self) -> int:
        return int(self.vae.config.latent_channels)

    def crop(self, pixels: torch.Tensor) -> torch.Tensor:
        """Centre-crop an IMAGE ``[B, H, W, C]`` to a multiple of :attr:`downscale` (as ComfyUI's VAEEncode)."""
        d = self.downscale
        height, width = (pixels.shape[1] // d) * d, (pixels.shape[2] // d) * d
        top, left = (pixels.shape[1] % d) // 2, (pixels.shape[2] % d) // 2
        return pixels[:, top : top + height, left : left + width, :]

    def decode(self, samples: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, C, h, w]`` -> IMAGE ``[B, h * 8, w * 8, 3]`` float32 in 0..1 on the CPU."""
        side = max(samples.shape[-2:]) * self.downscale
        return self._decode(samples, None, _retry_tile(side), what="VAE decode")

    def decode_tiled(self, samples: torch.Tensor, tile_size: int = 512, overlap: int = 64) -> torch.Tensor:
        """:meth:`decode` tile by tile (sizes in pixels), blending overlaps with linear ramps.

        A latent that fits in one tile is decoded exactly as :meth:`decode` does.
        """
        smaller = max(self.downscale, (tile_size // 2 // self.downscale) * self.downscale)
        return self._decode(samples, (tile_size, overlap), (smaller, overlap // 2), what="VAE decode (tiled)")

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """IMAGE ``[B, H, W, C]`` -> latents ``[B, C, H / 8, W / 8]`` (the distribution's mean, scaled).

        The image is centre-cropped to a multiple of 8 first and only its first three channels are used.
        """
        return self._encode(pixels, None, _retry_tile(max(pixels.shape[1:3])), what="VAE encode")

    def encode_tiled(self, pixels: torch.Tensor, tile_size: int = 512, overlap: int = 64) -> torch.Tensor:
        """:meth:`encode` tile by tile (sizes in pixels), blending overlaps with linear ramps."""
        smaller = max(self.downscale, (tile_size // 2 // self.downscale) * self.downscale)
        return self._encode(pixels, (tile_size, overlap), (smaller, overlap // 2), what="VAE encode (tiled)")

    # ----------------------------------------------------------------------------------------------

    def _decode(
        self, samples: torch.Tensor, tiles: tuple[int, int] | None, retry: tuple[int, int], *, what: str
    ) -> torch.Tensor:
        """Decode whole (``tiles`` None) or in ``(tile, overlap)`` pixel tiles; on out-of-memory, in ``retry`` tiles."""
        d = self.downscale

        def decode_with(plan: tuple[int, int] | None) -> torch.Tensor:
            if plan is None:
                return self._images(samples, self._decode_one)
            tile = max(1, plan[0] // d)
            over = min(max(0, plan[1] // d), tile - 1)
            return self._images(samples, lambda z: _tiled(self._decode_one, z, tile, over, d, 1))

        if self.memory is None:
            return decode_with(tiles)
        plans = (tiles, retry)
        height, width = samples.shape[-2] * d, samples.shape[-1] * d

        def working(attempt: int) -> int:
            plan = plans[attempt]
            side = (min(height, plan[0]), min(width, plan[0])) if plan else (height, width)
            return self._estimate("decode", side)

        return self.memory.manager.run(lambda attempt: decode_with(plans[attempt]), self.memory, working=working,
                                       what=what, retry=f"tiles of {retry[0]} px")

    def _encode(
        self, pixels: torch.Tensor, tiles: tuple[int, int] | None, retry: tuple[int, int], *, what: str
    ) -> torch.Tensor:
        """Encode whole or in ``(tile, overlap)`` pixel tiles; on out-of-memory, in ``retry`` tiles."""
        d = self.downscale

        def encode_with(plan: tuple[int, int] | None) -> torch.Tensor:
            if plan is None:
                return self._latents(pixels, self._encode_one)
            tile = max(d, (plan[0] // d) * d)
            over = min((max(0, plan[1]) // d) * d, tile - d)
            return self._latents(pixels, lambda x: _tiled(self._encode_one, x, tile, over, 1, d, align=d))

        if self.memory is None:
            return encode_with(tiles)
        plans = (tiles, retry)
        height, width = pixels.shape[1], pixels.shape[2]

        def working(attempt: int) -> int:
            plan = plans[attempt]
            side = (min(height, plan[0]), min(width, plan[0])) if plan else (height, width)
            return self._estimate("encode", side)

        return self.memory.manager.run(lambda attempt: encode_with(plans[attempt]), self.memory, working=working,
                                       what=what, retry=f"tiles of {retry[0]} px")

    def _estimate(self, direction: str, pixels_hw: tuple[int, int]) -> int:
        """Working memory for one image (or tile) of ``pixels_hw`` (see :mod:`nodes.memory.estimates`)."""
        from nodes.memory.estimates import vae_decode_memory, vae_encode_memory

        dtype_bytes = next(self.vae.parameters()).dtype.itemsize
        width = int(self.vae.config.block_out_channels[0])
        if direction == "decode":
            d = self.downscale
            return vae_decode_memory((pixels_hw[0] // d, pixels_hw[1] // d), downscale=d, dtype_bytes=dtype_bytes, width=width)
        return vae_encode_memory(pixels_hw, dtype_bytes=dtype_bytes, width=width)

    def _place(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(_device(self.memory, self.vae), next(self.vae.parameters()).dtype)

    def _decode_one(self, samples: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(self._place(samples.float())).sample.float()

    def _encode_one(self, x: torch.Tensor) -> torch.Tensor:
        return self.vae.encode(self._place(x)).latent_dist.mean.float()

    def _images(self, samples: torch.Tensor, decode: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        import torch

        with torch.no_grad():
            images = [decode(samples[i : i + 1]).cpu() for i in range(samples.shape[0])]
        return ((torch.cat(images) + 1.0) / 2.0).clamp(0.0, 1.0).permute(0, 2, 3, 1).contiguous()

    def _latents(self, pixels: torch.Tensor, encode: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        import torch

        x = self.crop(pixels)[..., :3].float().permute(0, 3, 1, 2) * 2.0 - 1.0
        with torch.no_grad():
            return torch.cat([encode(x[i : i + 1]).cpu() for i in range(x.shape[0])])

    def __repr__(self) -> str:
        return f"VaeHandle(scaling_factor={self.scaling_factor}, source={self.scale_source})"


def _retry_tile(side: int) -> tuple[int, int]:
    """``(tile, overlap)`` in pixels for the tiled retry of a whole-image pass over ``side`` pixels: at most
    512, at most half the side (rounded up to 64), at least 64; the overlap is a quarter tile."""
    tile = max(64, min(512, -(-side // 2 // 64) * 64))
    return tile, tile // 4


def _starts(size: int, tile: int, overlap: int, align: int) -> list[int]:
    """Tile origins covering ``size``: stride ``tile - overlap``, the last tile ending at the edge."""
    if size <= tile:
        return [0]
    stride = max(align, tile - overlap)
    starts = list(range(0, size - tile, stride)) + [size - tile]
    return sorted({(s // align) * align for s in starts})


def _ramp(length: int, feather: int) -> torch.Tensor:
    """1 in the middle, rising linearly over ``feather`` samples at both ends (never 0)."""
    import torch

    position = torch.arange(length, dtype=torch.float32)
    return (torch.minimum(position + 1, length - position) / max(1, feather)).clamp(max=1.0)


def _tiled(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    tile: int,
    overlap: int,
    up: int,
    down: int,
    *,
    align: int = 1,
) -> torch.Tensor:
    """Apply a resizing ``fn`` (output size = input size * up / down) tile by tile and blend.

    Every tile's output is weighted by a ramp over the overlap (on all four sides) and the sum is
    divided by the summed weights, so where only one tile covers a pixel it is taken as is.
    """
    import torch

    height, width = x.shape[-2:]
    if height <= tile and width <= tile:
        return fn(x)
    tile = min(tile, max(height, width))
    total = weights = None
    feather = max(1, overlap * up // down)
    for top in _starts(height, tile, overlap, align):
        for left in _starts(width, tile, overlap, align):
            part = fn(x[..., top : top + tile, left : left + tile]).float()
            oh, ow = part.shape[-2:]
            if total is None or weights is None:
                total = torch.zeros((*part.shape[:2], height * up // down, width * up // down), device=part.device)
                weights = torch.zeros((1, 1, *total.shape[-2:]), device=part.device)
            mask = (_ramp(oh, feather)[:, None] * _ramp(ow, feather)[None, :]).to(part.device)
            y, z = top * up // down, left * up // down
            total[..., y : y + oh, z : z + ow] += part * mask
            weights[..., y : y + oh, z : z + ow] += mask
    assert total is not None and weights is not None
    return total / weights
