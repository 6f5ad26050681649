"""The training script's parts: the architecture round trip, the schedules, the data split between workers."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from tests.tiny.conftest import TINY, load_path


@pytest.fixture(scope="module")
def train() -> ModuleType:
    return load_path("train", TINY / "train.py")


def test_the_architecture_exports_and_loads_back_exactly(train: ModuleType, tmp_path: Path) -> None:
    modules = (train.build_vae(0), train.build_unet(1), train.build_text_encoder(2))
    out = train.export(train.Recipe(), modules, 0.75, tmp_path / "tiny.safetensors")  # verifies the round trip
    assert out.stat().st_size < 20 * 1024 * 1024
    vae, unet, text = modules
    assert 2 ** (len(vae.config.block_out_channels) - 1) == 8
    assert unet.config.cross_attention_dim == text.config.hidden_size
    assert text.config.vocab_size == 49408 and text.config.max_position_embeddings == 77


def test_learning_rate_warms_up_then_decays_to_a_tenth(train: ModuleType) -> None:
    assert train.lr_factor(0, 1000, 100) == pytest.approx(0.01)
    assert train.lr_factor(99, 1000, 100) == pytest.approx(1.0)
    assert train.lr_factor(100, 1000, 100) == pytest.approx(1.0)
    assert train.lr_factor(1000, 1000, 100) == pytest.approx(0.1)


def test_min_snr_weights(train: ModuleType) -> None:
    from nodes.sampling.model import training_alphas_cumprod

    alphas = training_alphas_cumprod(train.SCHEDULE).float()
    weights = train.snr_weights(alphas, torch.tensor([0, 999]), 5.0)
    snr0 = alphas[0] / (1 - alphas[0])
    assert weights[0] == pytest.approx(float(5.0 / snr0), rel=1e-4)  # clean end: down-weighted
    assert weights[1] == pytest.approx(1.0)  # noisy end: SNR < 5 keeps weight 1


def test_workers_share_each_global_batch(train: ModuleType, dataset: ModuleType) -> None:
    scenes = dataset.make_scenes(64, seed=0)
    pool = {"scenes": [dataclasses.astuple(s) for s in scenes]}
    recipe = dataclasses.replace(train.Recipe(), unet_batch=8, caption_dropout=0.0)
    whole = next(train.batches(pool, recipe, train.Team(0, 1)))[0]
    halves = [next(train.batches(pool, recipe, train.Team(rank, 2)))[0] for rank in (0, 1)]
    assert sorted(np.concatenate(halves)) == sorted(whole)
    assert not set(halves[0]) & set(halves[1])


def test_caption_dropout_gives_empty_captions(train: ModuleType, dataset: ModuleType) -> None:
    scenes = dataset.make_scenes(400, seed=0)
    pool = {"scenes": [dataclasses.astuple(s) for s in scenes]}
    recipe = dataclasses.replace(train.Recipe(), unet_batch=400, caption_dropout=0.1)
    _, texts = next(train.batches(pool, recipe, train.Team()))
    assert 20 <= texts.count("") <= 60


def test_averaging_gradients_alone_changes_nothing(train: ModuleType) -> None:
    layer = torch.nn.Linear(3, 2)
    layer(torch.ones(1, 3)).sum().backward()
    before = [p.grad.clone() for p in layer.parameters()]
    train.Team().average_gradients(list(layer.parameters()))
    assert all(torch.equal(a, p.grad) for a, p in zip(before, layer.parameters(), strict=True))


@pytest.mark.slow
def test_the_quick_recipe_runs_end_to_end(train: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "quick.safetensors"
    assert train.main(["--quick", "--workers", "1", "--cache", str(tmp_path / "cache"), "--out", str(out)]) == 0
    assert out.is_file()
    assert {p.name for p in (tmp_path / "cache").iterdir()} >= {"vae.pt", "latents.pt", "unet.pt"}
