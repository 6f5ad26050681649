"""Train latentloom-tiny, a Stable-Diffusion-1-shaped text-to-image model for 64x64 pictures of shapes.

    .venv/bin/python models/tiny/train.py                 # the full recipe (writes the shipped checkpoint)
    .venv/bin/python models/tiny/train.py --quick --out /tmp/t.safetensors   # a few minutes, end to end

Stages (each saves its state under ``--cache``, default ``models/tiny/.cache/``, every few hundred steps,
so an interrupted run resumes where it stopped; ``--fresh`` starts over):

1. **VAE.**  An SD-style ``AutoencoderKL`` (four levels, 8x downscale, 4 latent channels) learns to
   reconstruct freshly drawn scenes: L1 + MSE + L1 of the image gradients (crisp edges) + a small KL
   term.  Its residual branches start at zero and its posterior's log-variance at -6, which shortens
   the slow start of a deep autoencoder trained from scratch.
2. **Latents.**  A fixed pool of scenes is encoded once (posterior mean and standard deviation); the
   latent scaling factor is 1 / (standard deviation of the pool's latents), stored in the VAE config
   as SD stores 0.18215.
3. **UNet + text encoder.**  A cross-attention ``UNet2DConditionModel`` and a ``CLIPTextModel`` (the
   real 49,408-token CLIP vocabulary and 77 positions, small width) learn together: epsilon prediction
   on SD's DDPM schedule (scaled_linear 0.00085..0.012, 1000 steps), min-SNR-5 loss weighting, a new
   caption per scene and step, 10% empty captions (for classifier-free guidance), an EMA of both.
4. **Export.**  The EMA weights are written in fp16 as one original-layout (LDM) single file with
   :func:`nodes.models.export.save_checkpoint`, read back with
   :func:`nodes.models.checkpoint.load_checkpoint` and compared tensor by tensor.

Two cores are used as two data-parallel processes of one thread each (gradients averaged with
``torch.distributed``'s gloo backend on 127.0.0.1) rather than one process with two threads: on a
machine shared with other jobs, two-thread kernels stall whenever one thread is descheduled, while
two single-thread processes only meet once per step.  Everything is seeded per process (numpy and
torch generators), so a run with the same ``--workers`` reproduces; losses are printed as it goes.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import os
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
import torch.distributed as dist

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for entry in (str(HERE), str(ROOT)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import dataset  # noqa: E402

DEFAULT_OUT = ROOT / "models" / "checkpoints" / "latentloom-tiny.safetensors"
DEFAULT_CACHE = HERE / ".cache"


@dataclass(frozen=True)
class Recipe:
    """Every number of a training run (written into the checkpoint's metadata).  Batches are global
    (split between the workers)."""

    seed: int = 0
    workers: int = 2
    # VAE
    vae_steps: int = 3000
    vae_batch: int = 16
    vae_lr: float = 1e-3
    vae_warmup: int = 20
    kl_weight: float = 1e-6
    mse_weight: float = 1.0
    edge_weight: float = 0.5
    # latents
    pool: int = 20000
    # UNet + text encoder
    unet_steps: int = 3000
    unet_batch: int = 64
    unet_lr: float = 8e-4
    text_lr: float = 1e-3
    warmup: int = 100
    caption_dropout: float = 0.1
    min_snr_gamma: float = 5.0
    ema_decay: float = 0.998
    save_every: int = 200


QUICK = Recipe(vae_steps=20, pool=256, unet_steps=20, save_every=10)

# The architecture (sizes chosen for a fp16 file under 20 MB and CPU training in under an hour).
VAE_CONFIG: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [16, 32, 64, 64],
    "layers_per_block": 1,
    "latent_channels": 4,
    "norm_num_groups": 1,
    "sample_size": 64,
}
UNET_CONFIG: dict[str, Any] = {
    "sample_size": 8,
    "in_channels": 4,
    "out_channels": 4,
    "block_out_channels": [64, 128],
    "layers_per_block": 1,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
    "cross_attention_dim": 64,
    "attention_head_dim": 4,
    "norm_num_groups": 16,
}
TEXT_CONFIG: dict[str, Any] = {
    "vocab_size": 49408,
    "max_position_embeddings": 77,
    "hidden_size": 64,
    "intermediate_size": 256,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "hidden_act": "quick_gelu",
    "bos_token_id": 49406,
    "eos_token_id": 49407,
    "pad_token_id": 49407,
}
SCHEDULE = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}


# --------------------------------------------------------------------------------------------------
# Workers


@dataclass(frozen=True)
class Team:
    """This process's place among the data-parallel workers."""

    rank: int = 0
    size: int = 1

    @property
    def lead(self) -> bool:
        return self.rank == 0

    def seed(self, base: int, stage: int) -> int:
        """A distinct, fixed seed per run seed, stage and worker."""
        return base * 1000 + stage * 10 + self.rank

    def average_gradients(self, params: Sequence[torch.nn.Parameter]) -> None:
        """Replace every gradient by its mean over the workers (one flat all-reduce)."""
        if self.size == 1:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.size
        offset = 0
        for p, g in zip(params, grads, strict=True):
            p.grad = flat[offset : offset + g.numel()].view_as(g)
            offset += g.numel()

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        if self.size == 1:
            return values
        tensor = torch.tensor(list(values.values()), dtype=torch.float64)
        dist.all_reduce(tensor)
        return {k: float(v) / self.size for k, v in zip(values, tensor, strict=True)}

    def gather(self, value: Any) -> list[Any]:
        if self.size == 1:
            return [value]
        out: list[Any] = [None] * self.size
        dist.all_gather_object(out, value)
        return out

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()


def log(team: Team, message: str) -> None:
    if team.lead:
        print(time.strftime("%H:%M:%S"), message, flush=True)


def build_vae(seed: int) -> Any:
    """The VAE, with zero residual branches and its posterior's log-variance started at -6 (std 0.05),
    so that the first steps see the latent signal through a shallow network rather than unit noise
    through a deep one; the KL term keeps the variance from collapsing further."""
    from diffusers import AutoencoderKL
    from diffusers.models.resnet import ResnetBlock2D

    torch.manual_seed(seed)
    vae = AutoencoderKL(**VAE_CONFIG)
    with torch.no_grad():
        for module in vae.modules():
            if isinstance(module, ResnetBlock2D):
                module.conv2.weight.zero_()
                module.conv2.bias.zero_()
        vae.encoder.conv_out.bias[VAE_CONFIG["latent_channels"] :] = -6.0
    return vae


def build_unet(seed: int) -> Any:
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(**UNET_CONFIG)


def build_text_encoder(seed: int) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    return CLIPTextModel(CLIPTextConfig(**TEXT_CONFIG))


def parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 ``[N, H, W, 3]`` -> float ``[N, 3, H, W]`` in -1..1."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to a tenth."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


class Meter:
    """Running means of the logged values since the last report, and the pace."""

    def __init__(self, start: int) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0
        self.last = time.perf_counter()
        self.last_step = start

    def add(self, values: dict[str, float]) -> None:
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.count += 1

    def report(self, step: int, total: int) -> str:
        now = time.perf_counter()
        pace = (now - self.last) / max(1, step - self.last_step)
        self.last, self.last_step = now, step
        text = " ".join(f"{k} {v / max(1, self.count):.4f}" for k, v in self.sums.items())
        self.sums, self.count = {}, 0
        return f"step {step}/{total} {text} ({pace:.2f} s/step, {(total - step) * pace / 60:.1f} min left)"


class Stage:
    """A resumable stage: ``<cache>/<name>.pt`` holds its state (written by the lead worker)."""

    def __init__(self, cache: Path, name: str) -> None:
        self.path = cache / f"{name}.pt"

    def load(self) -> dict[str, Any] | None:
        return torch.load(self.path, weights_only=False) if self.path.is_file() else None

    def save(self, team: Team, state: dict[str, Any], rng: Any) -> None:
        """Save ``state`` plus every worker's random state ``rng`` (all workers must call it)."""
        states = team.gather(rng)
        if team.lead:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            torch.save({**state, "rng": states}, tmp)
            tmp.replace(self.path)
        team.barrier()


# --------------------------------------------------------------------------------------------------
# 1. VAE


def vae_loss(vae: Any, x: torch.Tensor, recipe: Recipe, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
    """L1 + MSE + edge L1 + KL for one batch (the posterior is sampled with ``generator``).

    The convolutions run in bfloat16 (autocast; weights, posterior and losses stay float32): on CPUs
    with AMX that, with channels-last tensors, makes a step about three times faster.
    """
    x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        moments = vae.quant_conv(vae.encoder(x)).float()
    mean, logvar = moments.chunk(2, dim=1)
    logvar = logvar.clamp(-30.0, 20.0)
    std = (0.5 * logvar).exp()
    z = mean + std * torch.randn(mean.shape, generator=generator)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        rec = vae.decoder(vae.post_quant_conv(z)).float()
    kl = 0.5 * (mean.pow(2) + std.pow(2) - 1.0 - logvar).sum(dim=(1, 2, 3)).mean()
    l1 = (rec - x).abs().mean()
    mse = (rec - x).pow(2).mean()
    edges = ((rec.diff(dim=-1) - x.diff(dim=-1)).abs().mean() + (rec.diff(dim=-2) - x.diff(dim=-2)).abs().mean()) / 2
    loss = l1 + recipe.mse_weight * mse + recipe.edge_weight * edges + recipe.kl_weight * kl
    parts = {"loss": loss, "l1": l1, "mse": mse, "edge": edges, "kl": kl}
    return loss, {k: float(v.detach()) for k, v in parts.items()}


def train_vae(recipe: Recipe, cache: Path, team: Team) -> Any:
    """Stage 1 (resumable); returns the trained VAE."""
    stage, vae = Stage(cache, "vae"), build_vae(recipe.seed)
    log(team, f"VAE: {parameters(vae) / 1e6:.2f} M parameters, {recipe.vae_steps} steps of batch {recipe.vae_batch}")
    state = stage.load()
    if state is not None and state["step"] == recipe.vae_steps:
        vae.load_state_dict(state["model"])
        log(team, f"VAE: loaded the finished stage from {stage.path}")
        return vae.eval()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=recipe.vae_lr, betas=(0.9, 0.99), weight_decay=0.0)
    rng = np.random.default_rng(team.seed(recipe.seed, 1))
    generator = torch.Generator().manual_seed(team.seed(recipe.seed, 2))
    start = 0
    if state is not None:
        vae.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        rng.bit_generator.state, generator_state = state["rng"][team.rank]
        generator.set_state(generator_state)
        start = state["step"]
        log(team, f"VAE: resuming at step {start}")
    vae.train().to(memory_format=torch.channels_last)
    params, meter = list(vae.parameters()), Meter(start)
    for step in range(start, recipe.vae_steps):
        for group in optimizer.param_groups:
            group["lr"] = recipe.vae_lr * lr_factor(step, recipe.vae_steps, recipe.vae_warmup)
        scenes = [dataset.random_scene(rng) for _ in range(recipe.vae_batch // team.size)]
        loss, parts = vae_loss(vae, to_tensor(dataset.render_all(scenes)), recipe, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        team.average_gradients(params)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        meter.add(team.mean(parts))
        if (step + 1) % 50 == 0 or step + 1 == recipe.vae_steps:
            log(team, "VAE " + meter.report(step + 1, recipe.vae_steps))
        if step + 1 == recipe.vae_steps or (step + 1) % recipe.save_every == 0:
            model = {k: v.contiguous() for k, v in vae.state_dict().items()}
            snapshot = {"model": model, "optimizer": optimizer.state_dict(), "step": step + 1}
            stage.save(team, snapshot, (rng.bit_generator.state, generator.get_state()))
    return vae.eval().to(memory_format=torch.contiguous_format)


# --------------------------------------------------------------------------------------------------
# 2. Latents


def encode_pool(recipe: Recipe, vae: Any, cache: Path, team: Team) -> dict[str, Any]:
    """Stage 2: the scene pool, its latents (mean, std) and the scaling factor (each worker encodes a share)."""
    path = cache / "latents.pt"
    if path.is_file():
        state = torch.load(path, weights_only=False)
        if (state["pool"], state.get("vae_steps")) == (recipe.pool, recipe.vae_steps):
            log(team, f"latents: loaded {recipe.pool} from {path} (scaling factor {state['scaling_factor']:.5f})")
            return state
    started = time.perf_counter()
    scenes = dataset.make_scenes(recipe.pool, recipe.seed + 3)
    share = range(team.rank, len(scenes), team.size)
    parts = []
    with torch.no_grad():
        for i in range(0, len(share), 64):
            chunk = [scenes[j] for j in share[i : i + 64]]
            posterior = vae.encode(to_tensor(dataset.render_all(chunk)).contiguous(memory_format=torch.channels_last)).latent_dist
            parts.append((posterior.mean, posterior.std))
    shares = team.gather((torch.cat([m for m, _ in parts]), torch.cat([s for _, s in parts])))
    mean, std = torch.empty(len(scenes), *shares[0][0].shape[1:]), torch.empty(len(scenes), *shares[0][0].shape[1:])
    for rank, (m, s) in enumerate(shares):
        mean[rank :: team.size], std[rank :: team.size] = m, s
    state = {"pool": recipe.pool, "vae_steps": recipe.vae_steps, "scenes": [dataclasses.astuple(s) for s in scenes]}
    state.update(mean=mean, std=std)
    state["scaling_factor"] = float(1.0 / mean.std())
    if team.lead:
        cache.mkdir(parents=True, exist_ok=True)
        torch.save(state, path)
    team.barrier()
    seconds = time.perf_counter() - started
    log(team, f"latents: encoded {len(scenes)} scenes in {seconds:.0f} s; scaling factor {state['scaling_factor']:.5f}")
    return state


# --------------------------------------------------------------------------------------------------
# 3. UNet + text encoder


class Captions:
    """Tokenised captions (CLIP ids, 77 positions, end-of-text padding), memoised."""

    def __init__(self) -> None:
        from nodes.models.tokenizer import clip_tokenizer

        self.tokenizer = clip_tokenizer("eos")
        self.memo: dict[str, list[int]] = {}

    def ids(self, texts: list[str]) -> torch.Tensor:
        for text in texts:
            if text not in self.memo:
                self.memo[text] = self.tokenizer(text, padding="max_length", max_length=77, truncation=True).input_ids
        return torch.tensor([self.memo[t] for t in texts])


class VocabularyRows(torch.nn.Module):
    """Token embeddings for training: the full table, frozen, with the rows of the tokens the captions
    use as the trainable parameter (``rows``).

    Captions use about seventy of CLIP's 49,408 tokens; training only their rows spares the backward
    pass a dense 49,408-row gradient and the optimiser 3 M parameters per step.  :func:`merged_text_encoder`
    writes the rows back into an ordinary ``nn.Embedding``.
    """

    def __init__(self, table: torch.Tensor, used: Sequence[int]) -> None:
        super().__init__()
        used_ids = torch.tensor(sorted(set(used)), dtype=torch.long)
        index = torch.full((table.shape[0],), len(used_ids), dtype=torch.long)
        index[used_ids] = torch.arange(len(used_ids))
        self.register_buffer("table", table.detach().clone())
        self.register_buffer("used_ids", used_ids)
        self.register_buffer("index", index)
        self.rows = torch.nn.Parameter(table.detach()[used_ids].clone())

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        slot = self.index[input_ids]
        padded = torch.cat([self.rows, self.rows.new_zeros(1, self.rows.shape[1])])
        return torch.where((slot < len(self.used_ids))[..., None], padded[slot], self.table[input_ids])

    def merged(self) -> torch.Tensor:
        table = self.table.clone()
        table[self.used_ids] = self.rows.detach()
        return table


def caption_vocabulary(pool: dict[str, Any], seed: int, count: int = 5000) -> list[int]:
    """Every token id of ``count`` captions drawn from the pool, of the empty caption and of the prompts."""
    captions, rng = Captions(), np.random.default_rng(seed)
    scenes = [dataset.Scene(*s) for s in pool["scenes"][:count]]
    texts = [dataset.caption(scene, rng) for scene in scenes] + [""]
    texts += [dataset.prompt(c, s) for c in dataset.COLORS for s in dataset.SHAPES]
    return sorted({int(t) for t in captions.ids(texts).unique()})


def _tower(text_encoder: Any) -> Any:
    return getattr(text_encoder, "text_model", text_encoder)  # transformers 5 flattened CLIPTextModel


def with_vocabulary_rows(text_encoder: Any, used: Sequence[int]) -> Any:
    """``text_encoder`` with its token embedding replaced by :class:`VocabularyRows`."""
    embeddings = _tower(text_encoder).embeddings
    embeddings.token_embedding = VocabularyRows(embeddings.token_embedding.weight, used)
    return text_encoder


def merged_text_encoder(text_encoder: Any) -> Any:
    """Undo :func:`with_vocabulary_rows`: an ordinary ``nn.Embedding`` holding the trained rows."""
    embeddings = _tower(text_encoder).embeddings
    rows = embeddings.token_embedding
    if isinstance(rows, VocabularyRows):
        table = rows.merged()
        embeddings.token_embedding = torch.nn.Embedding(table.shape[0], table.shape[1])
        with torch.no_grad():
            embeddings.token_embedding.weight.copy_(table)
    return text_encoder


def batches(pool: dict[str, Any], recipe: Recipe, team: Team) -> Iterator[tuple[np.ndarray, list[str]]]:
    """Endless ``(indices, captions)`` of this worker's share of each global batch: shuffled epochs
    (the same order in every worker), a fresh caption every time, ``caption_dropout`` empty ones."""
    scenes = [dataset.Scene(*s) for s in pool["scenes"]]
    order_rng = np.random.default_rng(recipe.seed * 1000 + 60)  # the same in every worker
    rng = np.random.default_rng(team.seed(recipe.seed, 7))
    while True:
        order = order_rng.permutation(len(scenes))
        for i in range(0, len(order) - recipe.unet_batch + 1, recipe.unet_batch):
            index = order[i : i + recipe.unet_batch][team.rank :: team.size]
            texts = ["" if rng.random() < recipe.caption_dropout else dataset.caption(scenes[j], rng) for j in index]
            yield index, texts


def snr_weights(alphas_cumprod: torch.Tensor, t: torch.Tensor, gamma: float) -> torch.Tensor:
    """Min-SNR-gamma loss weights for epsilon prediction (Hang et al. 2023, "Efficient Diffusion
    Training via Min-SNR Weighting Strategy", eq. 7): ``min(SNR, gamma) / SNR``."""
    snr = alphas_cumprod[t] / (1 - alphas_cumprod[t])
    return torch.clamp(snr, max=gamma) / snr


def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters(), strict=True):
            e.lerp_(p, 1 - decay)


def unet_loss(
    models: tuple[Any, Any], batch: tuple[torch.Tensor, torch.Tensor], alphas: torch.Tensor, recipe: Recipe, generator: torch.Generator
) -> tuple[torch.Tensor, dict[str, float]]:
    """The min-SNR-weighted epsilon loss of scaled latents ``x0`` and token ids (DDPM, Ho et al. 2020)."""
    unet, text_encoder = models
    x0, ids = batch
    t = torch.randint(0, len(alphas), (x0.shape[0],), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    a = alphas[t].view(-1, 1, 1, 1)
    noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
    context = text_encoder(input_ids=ids).last_hidden_state
    eps = unet(noisy, t, context).sample
    per_sample = (eps - noise).pow(2).mean(dim=(1, 2, 3))
    loss = (per_sample * snr_weights(alphas, t, recipe.min_snr_gamma)).mean()
    return loss, {"loss": float(loss.detach()), "mse": float(per_sample.mean().detach())}


@dataclass
class UnetRun:
    """The modules, optimiser and random sources of stage 3."""

    unet: Any
    text: Any
    ema_unet: Any
    ema_text: Any
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    stream: Iterator[tuple[np.ndarray, list[str]]]
    start: int = 0

    def modules(self) -> dict[str, Any]:
        return {"unet": self.unet, "text": self.text, "ema_unet": self.ema_unet, "ema_text": self.ema_text}


def prepare_unet(recipe: Recipe, pool: dict[str, Any], team: Team, state: dict[str, Any] | None) -> UnetRun:
    """Build (or resume) the stage-3 modules, optimiser and data stream."""
    unet = build_unet(recipe.seed + 4)
    text = with_vocabulary_rows(build_text_encoder(recipe.seed + 5), caption_vocabulary(pool, recipe.seed + 9))
    ema_unet, ema_text = copy.deepcopy(unet).requires_grad_(False), copy.deepcopy(text).requires_grad_(False)
    groups = [{"params": unet.parameters(), "lr": recipe.unet_lr}, {"params": text.parameters(), "lr": recipe.text_lr}]
    optimizer = torch.optim.AdamW(groups, weight_decay=0.01)
    generator = torch.Generator().manual_seed(team.seed(recipe.seed, 8))
    run = UnetRun(unet, text, ema_unet, ema_text, optimizer, generator, batches(pool, recipe, team))
    if state is None:
        return run
    for key, module in run.modules().items():
        module.load_state_dict(state[key])
    optimizer.load_state_dict(state["optimizer"])
    generator.set_state(state["rng"][team.rank])
    run.start = state["step"]
    for _ in range(run.start):  # replay the data order and captions (no rendering, no model)
        next(run.stream)
    log(team, f"UNet: resuming at step {run.start}")
    return run


def train_unet(recipe: Recipe, pool: dict[str, Any], cache: Path, team: Team) -> tuple[Any, Any]:
    """Stage 3 (resumable); returns the EMA ``(unet, text_encoder)``."""
    from nodes.sampling.model import training_alphas_cumprod

    stage, state = Stage(cache, "unet"), Stage(cache, "unet").load()
    if state is not None and (state.get("scaling_factor"), state.get("setup")) != (pool["scaling_factor"], unet_setup(recipe)):
        log(team, f"UNet: {stage.path} was trained with other latents or settings; starting over")
        state = None
    run = prepare_unet(recipe, pool, team, state)
    log(team, f"UNet: {parameters(run.unet) / 1e6:.2f} M, text encoder: {parameters(run.text) / 1e6:.2f} M trainable parameters; "
        f"{recipe.unet_steps} steps of batch {recipe.unet_batch}")
    alphas = training_alphas_cumprod(SCHEDULE).float()
    scaling, captions = pool["scaling_factor"], Captions()
    params = [*run.unet.parameters(), *run.text.parameters()]
    vocabulary = set(_tower(run.text).embeddings.token_embedding.used_ids.tolist())
    run.unet.train()
    run.text.train()
    meter = Meter(run.start)
    for step in range(run.start, recipe.unet_steps):
        for group, base in zip(run.optimizer.param_groups, (recipe.unet_lr, recipe.text_lr), strict=True):
            group["lr"] = base * lr_factor(step, recipe.unet_steps, recipe.warmup)
        index, texts = next(run.stream)
        ids = captions.ids(texts)
        if not set(ids.unique().tolist()) <= vocabulary:
            raise RuntimeError(f"captions {texts} use tokens outside the trained vocabulary; extend caption_vocabulary()")
        mean, std = pool["mean"][torch.from_numpy(index)], pool["std"][torch.from_numpy(index)]
        z = (mean + std * torch.randn(mean.shape, generator=run.generator)) * scaling
        loss, parts = unet_loss((run.unet, run.text), (z, ids), alphas, recipe, run.generator)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        team.average_gradients(params)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        run.optimizer.step()
        decay = min(recipe.ema_decay, (1 + step) / (10 + step))
        ema_update(run.ema_unet, run.unet, decay)
        ema_update(run.ema_text, run.text, decay)
        meter.add(team.mean(parts))
        if (step + 1) % 50 == 0 or step + 1 == recipe.unet_steps:
            log(team, "UNet " + meter.report(step + 1, recipe.unet_steps))
        if step + 1 == recipe.unet_steps or (step + 1) % recipe.save_every == 0:
            snapshot = {k: m.state_dict() for k, m in run.modules().items()}
            snapshot.update(optimizer=run.optimizer.state_dict(), step=step + 1, scaling_factor=scaling, setup=unet_setup(recipe))
            stage.save(team, snapshot, run.generator.get_state())
    return run.ema_unet.eval(), merged_text_encoder(run.ema_text).eval()


def unet_setup(recipe: Recipe) -> str:
    """What a saved stage 3 must match to be resumed: architectures and the stage's recipe numbers."""
    numbers = {k: v for k, v in dataclasses.asdict(recipe).items() if not k.startswith("vae_") and k != "save_every"}
    return json.dumps([UNET_CONFIG, TEXT_CONFIG, numbers], sort_keys=True)


def load_finished_unet(recipe: Recipe, cache: Path) -> tuple[Any, Any] | None:
    """The EMA modules of a finished stage 3, or ``None``."""
    state = Stage(cache, "unet").load()
    latents = cache / "latents.pt"
    if state is None or state["step"] != recipe.unet_steps or not latents.is_file():
        return None
    pool = torch.load(latents, weights_only=False)
    if (state.get("scaling_factor"), state.get("setup")) != (pool["scaling_factor"], unet_setup(recipe)):
        return None
    unet = build_unet(recipe.seed + 4)
    text = with_vocabulary_rows(build_text_encoder(recipe.seed + 5), caption_vocabulary(pool, recipe.seed + 9))
    unet.load_state_dict(state["ema_unet"])
    text.load_state_dict(state["ema_text"])
    return unet.eval(), merged_text_encoder(text).eval()


# --------------------------------------------------------------------------------------------------
# 4. Export


def export(recipe: Recipe, modules: tuple[Any, Any, Any], scaling: float, out: Path) -> Path:
    """Write the fp16 single file and check that loading it gives back these modules exactly."""
    from nodes.models.export import save_checkpoint

    vae, unet, text_encoder = modules
    vae.register_to_config(scaling_factor=scaling)
    metadata = {
        "modelspec.title": "latentloom-tiny",
        "modelspec.description": "64x64 pictures of one coloured shape on a plain or textured background",
        "modelspec.resolution": "64x64",
        "modelspec.license": "Apache-2.0",
        "latentloom.recipe": json.dumps(dataclasses.asdict(recipe), sort_keys=True),
    }
    save_checkpoint(out, unet, vae, (text_encoder,), "sd1", metadata, prediction_type="epsilon", dtype=torch.float16)
    verify_round_trip(out, modules)
    print(time.strftime("%H:%M:%S"), f"export: wrote {out} ({out.stat().st_size / 1e6:.2f} MB), round trip exact", flush=True)
    return out


def verify_round_trip(path: Path, modules: tuple[Any, Any, Any]) -> None:
    """Raise ``AssertionError`` unless ``load_checkpoint(path)`` rebuilds ``modules`` (cast to fp16) exactly."""
    from nodes.models.checkpoint import load_checkpoint

    loaded = load_checkpoint(path)
    vae, unet, text_encoder = modules
    pairs = (("VAE", vae, loaded.vae), ("UNet", unet, loaded.unet), ("text encoder", text_encoder, loaded.text_encoders[0]))
    for name, source, back in pairs:
        want, got = source.state_dict(), back.state_dict()
        want = {k: v for k, v in want.items() if not k.endswith("position_ids")}
        got = {k: v for k, v in got.items() if not k.endswith("position_ids")}
        assert set(want) == set(got), f"{name}: keys differ: {sorted(set(want) ^ set(got))[:10]}"
        for key, value in want.items():
            expected = value.to(torch.float16) if value.is_floating_point() else value
            assert torch.equal(got[key], expected), f"{name}: {key} differs after the round trip"
    assert loaded.info.family == "sd1" and loaded.info.prediction_type == "epsilon"
    assert math.isclose(loaded.info.scaling_factor, vae.config.scaling_factor), "scaling factor lost"
    for key in ("block_out_channels", "attention_head_dim", "cross_attention_dim", "norm_num_groups"):
        assert list(np.atleast_1d(loaded.unet.config[key])) == list(np.atleast_1d(unet.config[key])), f"UNet {key}"
    assert loaded.vae.config.norm_num_groups == vae.config.norm_num_groups, "VAE norm_num_groups"
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "hidden_act", "intermediate_size"):
        assert getattr(loaded.text_encoders[0].config, key) == getattr(text_encoder.config, key), f"text {key}"


# --------------------------------------------------------------------------------------------------
# Running


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def worker(rank: int, recipe: Recipe, cache: Path, out: Path, port: int) -> None:
    """One data-parallel worker: every stage in turn; the lead worker exports."""
    torch.set_num_threads(1)
    team = Team(rank, recipe.workers)
    if team.size > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo")
        dist.init_process_group("gloo", rank=rank, world_size=team.size)
    try:
        started = time.perf_counter()
        vae = train_vae(recipe, cache, team)
        pool = encode_pool(recipe, vae, cache, team)
        unet, text_encoder = load_finished_unet(recipe, cache) or train_unet(recipe, pool, cache, team)
        if team.lead:
            export(recipe, (vae, unet, text_encoder), pool["scaling_factor"], out)
        log(team, f"done in {(time.perf_counter() - started) / 60:.1f} min")
    finally:
        if team.size > 1:
            dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run of every stage (minutes), for checking the pipeline")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"checkpoint to write (default {DEFAULT_OUT.relative_to(ROOT)})")
    parser.add_argument("--cache", type=Path, help="stage state folder (default models/tiny/.cache, or .cache/quick with --quick)")
    parser.add_argument("--fresh", action="store_true", help="delete the cached stages first")
    parser.add_argument("--workers", type=int, help="data-parallel processes of one thread each (default 2)")
    parser.add_argument("--vae-steps", type=int)
    parser.add_argument("--unet-steps", type=int)
    args = parser.parse_args(argv)
    recipe = QUICK if args.quick else Recipe()
    overrides = {"workers": args.workers, "vae_steps": args.vae_steps, "unet_steps": args.unet_steps}
    recipe = dataclasses.replace(recipe, **{k: v for k, v in overrides.items() if v is not None})
    if recipe.vae_batch % recipe.workers or recipe.unet_batch % recipe.workers:
        parser.error(f"--workers {recipe.workers} must divide the batch sizes {recipe.vae_batch} and {recipe.unet_batch}")
    cache = args.cache or (DEFAULT_CACHE / "quick" if args.quick else DEFAULT_CACHE)
    if args.fresh:
        for name in ("vae.pt", "latents.pt", "unet.pt"):
            (cache / name).unlink(missing_ok=True)
    print(time.strftime("%H:%M:%S"), f"recipe {json.dumps(dataclasses.asdict(recipe))}; cache {cache}", flush=True)
    if recipe.workers == 1:
        worker(0, recipe, cache, args.out, 0)
    else:
        import torch.multiprocessing as mp

        mp.spawn(worker, args=(recipe, cache, args.out, free_port()), nprocs=recipe.workers, join=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
