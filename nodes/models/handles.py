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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from nodes.models.info import ModelInfo
from nodes.models.patching import PatchState, WeightPatch
from nodes.models.prompt import Chunk, empty_chunk, tokenize_weighted

if TYPE_CHECKING:
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTokenizer

    from nodes.sampling.model import DiffusionModel


# --------------------------------------------------------------------------------------------------
# MODEL


@dataclass(frozen=True, eq=False)
class ModelHandle:
    """A UNet with its facts and weight patches (ComfyUI's ModelPatcher).

    Attributes:
        core: the shared module state (``core.modules[0]`` is the UNet); clones share it.
        info: what the checkpoint is (family, prediction type, schedule, latent channels).
        patches: this clone's weight patches, applied by :meth:`use`.
    """

    core: PatchState
    info: ModelInfo
    patches: tuple[WeightPatch, ...] = ()

    @classmethod
    def create(cls, unet: UNet2DConditionModel, info: ModelInfo) -> ModelHandle:
        """A handle with no patches for a freshly loaded UNet."""
        return cls(PatchState((unet,)), info)

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
    def use(self) -> Iterator[DiffusionModel]:
        """Apply this handle's patches and yield the sampler's model (see :mod:`nodes.models.patching`).

        The patches stay applied after the block until a clone with other patches (or none) is used
        or :meth:`restore` is called.
        """
        from nodes.sampling.model import DiffusionModel

        with self.core.use(self.patches):
            yield DiffusionModel(
                self.unet,
                prediction_type=self.info.prediction_type,
                scheduler_config=self.info.scheduler_config,
                is_sdxl=self.info.family == "sdxl",
                latent_channels=self.info.latent_channels,
                latent_scale=self.info.scaling_factor,
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
    """

    core: PatchState
    tokenizers: tuple[CLIPTokenizer, ...]
    info: ModelInfo
    layers: tuple[int, ...]
    patches: tuple[WeightPatch, ...] = ()

    @classmethod
    def create(cls, text_encoders: Sequence[Any], tokenizers: Sequence[Any], info: ModelInfo) -> ClipHandle:
        """A handle with the family's default layers and no patches."""
        if not len(text_encoders) == len(tokenizers) == len(info.text_encoders):
            raise ValueError(
                f"{len(text_encoders)} text encoders, {len(tokenizers)} tokenizers and "
                f"{len(info.text_encoders)} encoder infos: one of each per encoder"
            )
        layers = tuple(te.clip_layer for te in info.text_encoders)
        return cls(PatchState(tuple(text_encoders)), tuple(tokenizers), info, layers)

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
    def use(self) -> Iterator[tuple[Any, ...]]:
        """Apply this handle's patches and yield the text encoders."""
        with self.core.use(self.patches) as modules:
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
        conds, pooled = [], None
        with torch.no_grad(), self.use() as encoders:
            parts = zip(encoders, per_encoder, self.layers, self.info.text_encoders, strict=True)
            for encoder, chunks, layer, te in parts:
                cond, pooled = _encode_chunks(encoder, chunks, layer, te.final_layer_norm, te.pad_token_id)
                conds.append(cond)
        return torch.cat(conds, dim=-1), pooled  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"ClipHandle({self.info.family}, layers={self.layers}, {len(self.patches)} patches)"


def _encode_chunks(
    encoder: Any, chunks: Sequence[Chunk], layer: int, final_layer_norm: bool, pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One encoder's ``(cond [1, 77 * n, dim], pooled [1, dim])`` for weighted chunks."""
    import torch

    weighted = any(weight != 1.0 for chunk in chunks for _, weight in chunk)
    rows = [[token for token, _ in chunk] for chunk in chunks]
    if weighted:
        rows.append([token for token, _ in empty_chunk(pad_id)])
    device = next(encoder.parameters()).device
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
    """

    vae: AutoencoderKL
    scaling_factor: float
    shift_factor: float = 0.0
    scale_source: str = "checkpoint"

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
        return self._images(samples, self._decode_one)

    def decode_tiled(self, samples: torch.Tensor, tile_size: int = 512, overlap: int = 64) -> torch.Tensor:
        """:meth:`decode` tile by tile (sizes in pixels), blending overlaps with linear ramps.

        A latent that fits in one tile is decoded exactly as :meth:`decode` does.
        """
        d = self.downscale
        tile = max(1, tile_size // d)
        over = min(max(0, overlap // d), tile - 1)
        return self._images(samples, lambda z: _tiled(self._decode_one, z, tile, over, d, 1))

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """IMAGE ``[B, H, W, C]`` -> latents ``[B, C, H / 8, W / 8]`` (the distribution's mean, scaled).

        The image is centre-cropped to a multiple of 8 first and only its first three channels are used.
        """
        return self._latents(pixels, self._encode_one)

    def encode_tiled(self, pixels: torch.Tensor, tile_size: int = 512, overlap: int = 64) -> torch.Tensor:
        """:meth:`encode` tile by tile (sizes in pixels), blending overlaps with linear ramps."""
        d = self.downscale
        tile = max(d, (tile_size // d) * d)
        over = min((max(0, overlap) // d) * d, tile - d)
        return self._latents(pixels, lambda x: _tiled(self._encode_one, x, tile, over, 1, d, align=d))

    # ----------------------------------------------------------------------------------------------

    def _place(self, x: torch.Tensor) -> torch.Tensor:
        parameter = next(self.vae.parameters())
        return x.to(parameter.device, parameter.dtype)

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
