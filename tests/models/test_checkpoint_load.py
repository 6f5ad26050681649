"""Single-file round trips: export tiny models, load them back, compare tensors and forward passes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from nodes.models.checkpoint import (
    CheckpointError,
    CheckpointKeyError,
    checkpoint_from_state_dict,
    load_checkpoint,
    load_state_dict,
    read_metadata,
)
from nodes.models.detect import DetectionError
from nodes.models.export import architecture_overrides, ldm_state_dict, save_checkpoint


def _unet_inputs(family: str, cross_attention_dim: int) -> tuple[tuple, dict]:
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(1, 4, 8, 8, generator=generator)
    context = torch.randn(1, 77, cross_attention_dim, generator=generator)
    kwargs = {}
    if family == "sdxl":
        kwargs["added_cond_kwargs"] = {
            "text_embeds": torch.randn(1, 32, generator=generator),
            "time_ids": torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]]),
        }
    return (sample, torch.tensor([10]), context), kwargs


def test_detection_and_every_tensor_round_trip(tiny, loaded_models, assert_same_modules):
    loaded = loaded_models[tiny.family]
    assert (loaded.info.family, loaded.info.prediction_type) == (tiny.family, tiny.prediction_type)
    assert_same_modules(tiny.unet, loaded.unet)
    assert_same_modules(tiny.vae, loaded.vae)
    assert len(loaded.text_encoders) == len(tiny.text_encoders) == len(loaded.tokenizers)
    for source, restored in zip(tiny.text_encoders, loaded.text_encoders, strict=True):
        assert type(source) is type(restored)
        assert_same_modules(source, restored)
    assert loaded.vae.config.scaling_factor == loaded.info.scaling_factor
    assert not any(p.requires_grad for p in loaded.unet.parameters()) and not loaded.unet.training


@torch.no_grad()
def test_forward_passes_are_identical(tiny, loaded_models):
    loaded = loaded_models[tiny.family]
    args, kwargs = _unet_inputs(tiny.family, tiny.unet.config.cross_attention_dim)
    assert torch.equal(tiny.unet(*args, **kwargs).sample, loaded.unet(*args, **kwargs).sample)
    latent = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    assert torch.equal(tiny.vae.decode(latent).sample, loaded.vae.decode(latent).sample)
    for source, restored, tokenizer, te in zip(
        tiny.text_encoders, loaded.text_encoders, loaded.tokenizers, loaded.info.text_encoders, strict=True
    ):
        ids = tokenizer("a photo of a cat", padding="max_length", max_length=77, return_tensors="pt").input_ids
        assert ids[0, -1].item() == te.pad_token_id
        expected = source(ids, output_hidden_states=True)
        actual = restored(ids, output_hidden_states=True)
        assert torch.equal(expected.last_hidden_state, actual.last_hidden_state)
        assert torch.equal(expected.hidden_states[te.clip_layer], actual.hidden_states[te.clip_layer])
        if te.with_projection:
            assert torch.equal(expected.text_embeds, actual.text_embeds)


def test_single_file_layout_and_metadata(tiny_models):
    tiny = tiny_models["sdxl"]
    with safe_open(str(tiny.path), framework="pt") as handle:
        keys = set(handle.keys())
        metadata = handle.metadata()
    assert "conditioner.embedders.1.model.transformer.resblocks.1.attn.in_proj_weight" in keys
    assert "conditioner.embedders.0.transformer.text_model.encoder.layers.1.mlp.fc2.bias" in keys
    assert "model.diffusion_model.label_emb.0.2.weight" in keys
    assert "first_stage_model.decoder.up.3.upsample.conv.weight" in keys
    assert metadata["modelspec.title"] == "tiny sdxl" and metadata["modelspec.predict_key"] == "epsilon"
    assert metadata["modelspec.architecture"] == "stable-diffusion-xl-v1-base"
    sd2 = tiny_models["sd2"]
    assert read_metadata(sd2.path)["modelspec.predict_key"] == "v"
    assert load_state_dict(sd2.path)["v_pred"].numel() == 0


def _file_mappings(path: Path) -> list[tuple[int, int]]:
    maps = Path("/proc/self/maps")
    if not maps.exists():
        pytest.skip("needs /proc/self/maps (Linux)")
    ranges = []
    for line in maps.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[5] == str(path.resolve()):
            low, high = (int(x, 16) for x in fields[0].split("-"))
            ranges.append((low, high))
    return ranges


def test_safetensors_weights_stay_memory_mapped(tiny_models, loaded_models):
    """Without a dtype cast, loaded parameters point into the mapped file instead of fresh copies."""
    ranges = _file_mappings(tiny_models["sd1"].path)
    loaded = loaded_models["sd1"]
    for module in (loaded.unet, loaded.vae, *loaded.text_encoders):
        for name, parameter in module.named_parameters():
            pointer = parameter.data_ptr()
            assert any(low <= pointer < high for low, high in ranges), name


def test_ckpt_with_wrapped_state_dict(tiny_models, tmp_path, assert_same_modules):
    tiny = tiny_models["sd2"]
    state_dict = ldm_state_dict(tiny.unet, tiny.vae, tiny.text_encoders, "sd2")
    state_dict = {k: v.clone() for k, v in state_dict.items()} | {"v_pred": torch.tensor([])}
    path = tmp_path / "tiny_sd2.ckpt"
    torch.save({"state_dict": state_dict, "global_step": 7}, path)
    overrides = architecture_overrides(tiny.unet, tiny.vae, tiny.text_encoders)
    loaded = load_checkpoint(path, overrides=overrides)
    assert (loaded.info.prediction_type, loaded.info.prediction_source) == ("v_prediction", "v_pred key")
    assert_same_modules(tiny.unet, loaded.unet)
    assert_same_modules(tiny.text_encoders[0], loaded.text_encoders[0])


class _NotAllowed:
    pass


def test_unsafe_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"a": torch.zeros(1)}, "callback": _NotAllowed()}, path)
    with pytest.raises(CheckpointError, match="weights_only"):
        load_state_dict(path)
    legacy = tmp_path / "legacy.ckpt"  # pre-zipfile serialisation: cannot be memory-mapped
    torch.save({"state_dict": {"a": torch.ones(2)}}, legacy, _use_new_zipfile_serialization=False)
    assert torch.equal(load_state_dict(legacy)["a"], torch.ones(2))
    with pytest.raises(CheckpointError, match="suffix"):
        load_state_dict(Path(__file__))
    with pytest.raises(FileNotFoundError):
        load_state_dict(tmp_path / "missing.safetensors")


def test_strict_loading_lists_missing_and_unexpected_keys(tiny_models, tmp_path):
    tiny = tiny_models["sd1"]
    state_dict = load_state_dict(tiny.path)
    metadata = read_metadata(tiny.path)
    removed = ["model.diffusion_model.out.2.bias", "cond_stage_model.transformer.text_model.final_layer_norm.weight"]
    broken = {k: v for k, v in state_dict.items() if k not in removed}
    broken["model.diffusion_model.bogus.weight"] = torch.zeros(1)
    broken["first_stage_model.decoder.up.0.block.0.bogus"] = torch.zeros(1)
    broken["not_a_component"] = torch.zeros(1)
    with pytest.raises(CheckpointKeyError) as caught:
        checkpoint_from_state_dict(broken, metadata)
    assert caught.value.missing == tuple(sorted(removed))
    assert caught.value.unexpected == (
        "first_stage_model.decoder.up.0.block.0.bogus",
        "model.diffusion_model.bogus.weight",
        "not_a_component",
    )
    assert all(key in str(caught.value) for key in [*removed, "not_a_component"])

    path = tmp_path / "broken.safetensors"
    save_file({k: v.contiguous() for k, v in broken.items()}, str(path), metadata=metadata)
    with pytest.raises(CheckpointKeyError, match="2 missing and 3 unexpected"):
        load_checkpoint(path)


def test_known_extra_keys_are_ignored(tiny_models, assert_same_modules):
    tiny = tiny_models["sd1"]
    state_dict = load_state_dict(tiny.path) | {
        "alphas_cumprod": torch.ones(1000),
        "model_ema.decay": torch.tensor(0.999),
        "model_ema.num_updates": torch.tensor(3),
        "cond_stage_model.transformer.text_model.embeddings.position_ids": torch.arange(77)[None],
    }
    loaded = checkpoint_from_state_dict(state_dict, read_metadata(tiny.path))
    assert_same_modules(tiny.unet, loaded.unet)


def test_old_sd1_text_keys_without_text_model_level(tiny_models, assert_same_modules):
    tiny = tiny_models["sd1"]
    prefix = "cond_stage_model.transformer.text_model."
    state_dict = {k.replace(prefix, "cond_stage_model.transformer."): v for k, v in load_state_dict(tiny.path).items()}
    loaded = checkpoint_from_state_dict(state_dict, read_metadata(tiny.path))
    assert_same_modules(tiny.text_encoders[0], loaded.text_encoders[0])


def test_unrecognised_file(tmp_path):
    path = tmp_path / "flux.safetensors"
    save_file({"double_blocks.0.img_attn.qkv.weight": torch.zeros(2, 2), "img_in.weight": torch.zeros(2)}, str(path))
    with pytest.raises(DetectionError, match=r"unrecognised checkpoint.*double_blocks.0\. \(1\).*Supported"):
        load_checkpoint(path)


def test_fp16_export(tiny_models, tmp_path, assert_same_modules):
    tiny = tiny_models["sdxl"]
    path = save_checkpoint(
        tmp_path / "half.safetensors", tiny.unet, tiny.vae, tiny.text_encoders, "sdxl", dtype=torch.float16
    )
    assert path.stat().st_size < 0.55 * tiny.path.stat().st_size
    state_dict = load_state_dict(path)
    assert {v.dtype for v in state_dict.values()} == {torch.float16}
    loaded = load_checkpoint(path)
    assert loaded.unet.dtype == torch.float16
    half_unet = type(tiny.unet).from_config(tiny.unet.config).half()
    half_unet.load_state_dict({k: v.half() for k, v in tiny.unet.state_dict().items()})
    assert_same_modules(half_unet, loaded.unet)
    restored = load_checkpoint(path, dtype=torch.float32)
    assert restored.text_encoders[1].text_projection.weight.dtype == torch.float32


def test_exporter_checks_its_inputs(tiny_models, tmp_path):
    tiny = tiny_models["sdxl"]
    with pytest.raises(ValueError, match="needs 2 text encoder"):
        save_checkpoint(tmp_path / "x.safetensors", tiny.unet, tiny.vae, tiny.text_encoders[:1], "sdxl")
    with pytest.raises(ValueError, match="projection"):
        save_checkpoint(tmp_path / "x.safetensors", tiny.unet, tiny.vae, tiny.text_encoders[::-1], "sdxl")
    with pytest.raises(ValueError, match="family"):
        save_checkpoint(tmp_path / "x.safetensors", tiny.unet, tiny.vae, tiny.text_encoders, "sd3")  # type: ignore[arg-type]


def test_cast_while_reading_matches_cast_after_loading(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    from nodes.models.checkpoint import load_state_dict, read_safetensors_cast

    tensors = {"a": torch.randn(3, 4).to(torch.float16), "b": torch.arange(5), "c": torch.empty(0, 2, dtype=torch.float16)}
    path = tmp_path / "t.safetensors"
    save_file(tensors, str(path))
    cast = read_safetensors_cast(path, torch.float32)
    assert cast["a"].dtype == torch.float32 and torch.equal(cast["a"], tensors["a"].float())
    assert cast["b"].dtype == torch.int64 and torch.equal(cast["b"], tensors["b"])
    assert cast["c"].shape == (0, 2)
    assert load_state_dict(path, torch.float32)["a"].dtype == torch.float32  # another dtype: read and cast
    assert load_state_dict(path, torch.float16)["a"].dtype == torch.float16  # same dtype: memory-mapped


def test_cast_while_reading_reports_a_truncated_file(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    from nodes.models.checkpoint import CheckpointError, read_safetensors_cast

    path = tmp_path / "t.safetensors"
    save_file({"small": torch.ones(2, dtype=torch.float16), "big": torch.randn(64, 64).to(torch.float16)}, str(path))
    cast = read_safetensors_cast(path, torch.float32)  # the scratch buffer is reused across tensors
    assert torch.equal(cast["small"], torch.ones(2)) and cast["big"].shape == (64, 64)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="'big'"):
        read_safetensors_cast(path, torch.float32)
