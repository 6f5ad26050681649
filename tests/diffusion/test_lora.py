"""LoRA loading: kohya and diffusers layouts, exact deltas, base weights restored, errors."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch

from nodes.api import GraphBuilder
from nodes.models.lora import match_lora
from nodes.runtime import Runtime
from tests.diffusion.conftest import load, run, run_error, unet_call
from tests.diffusion.lora_files import Targets, diffusers_sdxl, expected_weight, kohya_sd1
from tests.resources.tiny_models import Tiny


def _lora(rt: Runtime, ckpt: str, lora: str, strength_model: float, strength_clip: float) -> list[Any]:
    b = GraphBuilder()
    base = b.node("CheckpointLoaderSimple", ckpt_name=ckpt)
    patched = b.node("LoraLoader", model=base.out(0), clip=base.out(1), lora_name=lora,
                     strength_model=strength_model, strength_clip=strength_clip)
    return run(rt, b, base.out(0), base.out(1), patched.out(0), patched.out(1))


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def _check_patched(module: torch.nn.Module, before: dict[str, torch.Tensor], targets: Targets, part: Any, strength: float) -> None:
    state = module.state_dict()
    keys = {key for (p, key) in targets if p == part}
    assert keys
    for key in keys:
        up, down, alpha = targets[(part, key)]
        assert torch.equal(state[key], expected_weight(before[key], up, down, alpha, strength)), key
        assert not torch.equal(state[key], before[key])
    assert all(torch.equal(state[k], before[k]) for k in state if k not in keys)


def _check_restored(module: torch.nn.Module, before: dict[str, torch.Tensor]) -> None:
    state = module.state_dict()
    different = [k for k in before if not torch.equal(state[k], before[k]) or state[k].dtype != before[k].dtype]
    assert not different, different[:5]


def test_kohya_lora_changes_weights_by_exactly_the_delta_and_restores_them(
    rt: Runtime, lora_dir: Path, tiny_models: dict[str, Tiny]
) -> None:
    model, clip, lora_model, lora_clip = _lora(rt, "sd1.safetensors", "kohya_sd1.safetensors", 0.8, 1.25)
    _, targets = kohya_sd1()
    assert lora_model.is_clone(model) and len(lora_model.patches) == 4 and len(lora_clip.patches) == 2
    with model.use():
        unet_before, te_before = _snapshot(model.unet), _snapshot(clip.text_encoders[0])
    base_cond, _ = clip.encode("a photo")
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    with model.use() as dm:
        base_out = unet_call(dm.unet, x, base_cond)

    # 1. patched weights are exactly W + strength * alpha / rank * up @ down; the output is the patched module's
    with lora_model.use() as dm:
        _check_patched(dm.unet, unet_before, targets, "unet", 0.8)
        patched_out = unet_call(dm.unet, x, base_cond)
        reference = copy.deepcopy(tiny_models["sd1"].unet)
        reference.load_state_dict(dm.unet.state_dict())
    assert torch.equal(patched_out, unet_call(reference, x, base_cond))
    assert not torch.allclose(patched_out, base_out)
    lora_cond, _ = lora_clip.encode("a photo")
    with lora_clip.use() as (encoder,):
        _check_patched(encoder, te_before, targets, 0, 1.25)
    assert not torch.allclose(lora_cond, base_cond)

    # 2. kept applied while the same clone runs again; removed (bit for bit) when the base runs
    applications = lora_model.core.applications
    with lora_model.use():
        pass
    assert lora_model.core.applications == applications
    with model.use() as dm:
        _check_restored(dm.unet, unet_before)
        assert torch.equal(unet_call(dm.unet, x, base_cond), base_out)
    assert torch.equal(clip.encode("a photo")[0], base_cond)
    _check_restored(clip.text_encoders[0], te_before)
    with lora_model.use():
        pass
    assert lora_model.core.applications == applications + 1
    lora_model.restore()
    _check_restored(model.unet, unet_before)


def test_diffusers_lora_on_sdxl_patches_unet_and_both_encoders(rt: Runtime, lora_dir: Path) -> None:
    model, clip, lora_model, lora_clip = _lora(rt, "sdxl.safetensors", "peft_sdxl.safetensors", 1.0, 0.5)
    _, targets = diffusers_sdxl()
    with model.use(), clip.use() as encoders:
        unet_before = _snapshot(model.unet)
        te_before = [_snapshot(e) for e in encoders]
    with lora_model.use() as dm:
        _check_patched(dm.unet, unet_before, targets, "unet", 1.0)  # includes a linear proj_in with 1x1-conv factors
    with lora_clip.use() as encoders:
        _check_patched(encoders[0], te_before[0], targets, 0, 0.5)
        _check_patched(encoders[1], te_before[1], targets, 1, 0.5)
    with model.use() as dm, clip.use() as encoders:
        _check_restored(dm.unet, unet_before)
        _check_restored(encoders[1], te_before[1])


def test_kohya_sdxl_text_encoder_prefixes(rt: Runtime) -> None:
    model, clip, _ = load(rt, "sdxl.safetensors")
    up, down = torch.zeros(32, 2), torch.zeros(2, 32)
    lora = {
        "lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight": up,
        "lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": down,
        "lora_te2_text_model_encoder_layers_1_mlp_fc2.lora_up.weight": up,
        "lora_te2_text_model_encoder_layers_1_mlp_fc2.lora_down.weight": torch.zeros(2, 37),
        "lora_unet_input_blocks_3_1_transformer_blocks_1_attn2_to_k.lora_up.weight": torch.zeros(64, 2),
        "lora_unet_input_blocks_3_1_transformer_blocks_1_attn2_to_k.lora_down.weight": torch.zeros(2, 64),
    }
    match = match_lora(lora, model, clip)
    assert [(i, k) for i, k, _, _ in match.clip] == [
        (0, "encoder.layers.0.self_attn.q_proj.weight"),
        (1, "text_model.encoder.layers.1.mlp.fc2.weight"),
    ]
    assert [k for k, _, _ in match.unet] == ["down_blocks.1.attentions.0.transformer_blocks.1.attn2.to_k.weight"]


def test_unknown_keys_are_an_error_listing_them(rt: Runtime, lora_dir: Path) -> None:
    b = GraphBuilder()
    base = b.node("CheckpointLoaderSimple", ckpt_name="sd1.safetensors")
    lora = b.node("LoraLoader", model=base.out(0), clip=base.out(1), lora_name="bogus.safetensors")
    message = run_error(rt, b, lora.out(0))
    assert message.startswith("LoraLoader: lora_name 'bogus.safetensors' does not fit")
    assert "lora_unet_not_a_module" in message and "dora_scale" in message


def test_model_only_skips_text_encoder_keys_and_refuses_a_lora_that_matches_nothing(rt: Runtime, lora_dir: Path) -> None:
    b = GraphBuilder()
    base = b.node("CheckpointLoaderSimple", ckpt_name="sd1.safetensors")
    only = b.node("LoraLoaderModelOnly", model=base.out(0), lora_name="kohya_sd1.safetensors", strength_model=1.0)
    [model] = run(rt, b, only.out(0))
    assert len(model.patches) == 4
    b = GraphBuilder()
    base = b.node("CheckpointLoaderSimple", ckpt_name="sd1.safetensors")
    nothing = b.node("LoraLoaderModelOnly", model=base.out(0), lora_name="te_only.safetensors")
    message = run_error(rt, b, nothing.out(0))
    assert "none of its 2 module(s) apply to the model" in message


def test_zero_strength_returns_the_inputs(rt: Runtime, lora_dir: Path) -> None:
    model, clip, same_model, same_clip = _lora(rt, "sd1.safetensors", "kohya_sd1.safetensors", 0.0, 0.0)
    assert same_model is model and same_clip is clip
    model, clip, lora_model, same_clip = _lora(rt, "sd1.safetensors", "kohya_sd1.safetensors", 0.5, 0.0)
    assert same_clip is clip and len(lora_model.patches) == 4


def test_a_second_clone_cannot_switch_weights_inside_a_use_block(rt: Runtime, lora_dir: Path) -> None:
    model, _, lora_model, _ = _lora(rt, "sd1.safetensors", "kohya_sd1.safetensors", 1.0, 1.0)
    with model.use():
        with model.use():  # the same patch set again: fine
            pass
        with pytest.raises(RuntimeError, match="in use with another patch set"), lora_model.use():
            pass
        with pytest.raises(RuntimeError, match="inside a use"):
            model.restore()
