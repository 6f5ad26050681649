"""Loading the prior, cascade and CLIP folders: strict, shape-checked, offline; the T5 tokenizer without
sentencepiece; the workflow files' model folders."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from nodes.api import GraphBuilder
from nodes.models.parts import PartError
from nodes.models.placement import resolve_placement
from nodes.runtime import Runtime
from tests.cascade.conftest import run
from tests.cascade.tiny_stacks import FOLDERS, spiece_model, t5_pieces, write_t5_tokenizer

CPU = resolve_placement("cpu", "fp32")
ROOT = Path(__file__).resolve().parents[2]


def folder(base: Path, key: str) -> Path:
    kind, name = FOLDERS[key]
    return base / "models" / kind / name


def test_every_loader_node_reads_its_folder(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime()
    b = GraphBuilder()
    unclip = b.node("UnCLIPStackLoader", model_path=FOLDERS["unclip"][1])
    kprior = b.node("KandinskyPriorLoader", model_path=FOLDERS["kandinsky_prior"][1])
    kdecoder = b.node("KandinskyDecoderLoader", model_path=FOLDERS["kandinsky_decoder"][1])
    base = b.node("CascadeBaseLoader", model_path=FOLDERS["if_stage_1"][1])
    sr = b.node("CascadeSuperResLoader", model_path=FOLDERS["if_stage_2"][1])
    clip = b.node("CLIPJointLoader", model_path=FOLDERS["clip"][1])
    values = run(rt, b, *(unclip.out(i) for i in range(4)), *(kprior.out(i) for i in range(3)), kdecoder.out(0),
                 base.out(0), base.out(1), sr.out(0), clip.out(0), clip.out(1))
    text, prior, decoder, super_res, ktext, kvision, kprior_, kdec, t5, pixel, if_sr, ctext, cvision = values
    assert (text.dim, prior.dim, prior.kind, kprior_.kind) == (32, 32, "unclip", "kandinsky")
    assert decoder.needs_text and not kdec.needs_text and kdec.scale == 8
    assert not super_res.takes_noise_level and if_sr.takes_noise_level
    assert kprior_.image_encoder is kvision and kvision.image_size == 32 and ctext.dim == cvision.dim == 32
    assert (t5.width, t5.loads, t5.resident) == (32, 0, False)  # loading the folder reads no T5 weights
    assert pixel.text_width == 32
    # each folder is one model-cache entry, weighed by its registered weights (so the RAM budget can drop it)
    from nodes.models.cache import handle_bytes, model_cache

    sizes = [handle_bytes(entry) for entry in model_cache(rt)._entries.values()]
    assert len(sizes) == 6 and all(size > 0 for size in sizes)
    assert {m.name for m in rt.models.models()} >= {f"{FOLDERS['unclip'][1]}:prior", f"{FOLDERS['clip'][1]}:image_encoder"}
    # a folder loaded again shares its weights
    b = GraphBuilder()
    [prior_again] = run(rt, b, b.node("UnCLIPStackLoader", model_path=FOLDERS["unclip"][1]).out(1))
    assert prior_again is prior


def test_model_folders_are_listed_by_kind(make_runtime: Callable[..., Runtime]) -> None:
    folders = make_runtime().folders
    assert folders.list_models("priors") == sorted([FOLDERS["unclip"][1], FOLDERS["kandinsky_prior"][1]])
    assert folders.list_models("cascades") == sorted([FOLDERS["if_stage_1"][1], FOLDERS["if_stage_2"][1]])
    assert folders.list_models("decoders") == [FOLDERS["kandinsky_decoder"][1]]
    assert folders.list_models("clip_models") == sorted([FOLDERS["clip"][1], "clip-transformers"])


def test_missing_or_misshapen_weights_name_the_folder_and_the_keys(cascade_base: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    from nodes.models.unclip import load_kandinsky_decoder

    broken = shutil.copytree(folder(cascade_base, "kandinsky_decoder"), tmp_path / "broken-decoder")
    weights = broken / "movq" / "diffusion_pytorch_model.safetensors"
    state = load_file(str(weights))
    key = "quantize.embedding.weight"
    save_file({k: v for k, v in state.items() if k != key}, str(weights))
    with pytest.raises(PartError, match=rf"(?s)broken-decoder/movq: the weights do not fit VQModel.*missing: {key}"):
        load_kandinsky_decoder(broken, CPU)
    save_file({**state, key: torch.zeros(3, 4)}, str(weights))
    with pytest.raises(PartError, match=r"(?s)broken-decoder/movq: .*quantize.embedding.weight"):
        load_kandinsky_decoder(broken, CPU)


def test_components_that_do_not_fit_each_other_fail_at_load(cascade_base: Path, tmp_path: Path) -> None:
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    from nodes.models.cascade import load_cascade_base
    from nodes.models.unclip import load_kandinsky_prior

    prior = shutil.copytree(folder(cascade_base, "kandinsky_prior"), tmp_path / "wide-text")
    shutil.rmtree(prior / "text_encoder")
    config = CLIPTextConfig(hidden_size=48, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37,
                            vocab_size=49408, max_position_embeddings=77, projection_dim=48)
    CLIPTextModelWithProjection(config).save_pretrained(str(prior / "text_encoder"))
    with pytest.raises(PartError, match="wide-text: the prior is 32 wide but the text encoder projects to 48"):
        load_kandinsky_prior(prior, CPU)

    stage = shutil.copytree(folder(cascade_base, "if_stage_1"), tmp_path / "narrow-t5")
    config_path = stage / "text_encoder" / "config.json"
    config_path.write_text(json.dumps({**json.loads(config_path.read_text()), "d_model": 16}))
    with pytest.raises(PartError, match="narrow-t5: the T5 encoder is 16 wide but unet/ reads 32-wide"):
        load_cascade_base(stage, CPU)
    with pytest.raises(PartError, match="this loader takes T5EncoderModel"):
        index = json.loads((stage / "model_index.json").read_text())
        (stage / "model_index.json").write_text(json.dumps({**index, "text_encoder": ["transformers", "BertModel"]}))
        load_cascade_base(stage, CPU)


def test_a_loader_names_the_folder_kind_when_the_folder_is_wrong(make_runtime: Callable[..., Runtime]) -> None:
    from tests.cascade.conftest import run_error

    rt = make_runtime()
    b = GraphBuilder()
    wrong = b.node("CascadeBaseLoader", model_path=FOLDERS["if_stage_2"][1])  # stage II has no T5
    message = run_error(rt, b, wrong.out(1))
    assert "is not a stage-I cascade folder" in message and "needs text_encoder/ (T5EncoderModel)" in message


def test_the_t5_tokenizer_reads_spiece_model_and_tokenizer_json_alike(tmp_path: Path) -> None:
    from nodes.models.t5_tokenizer import read_sentencepiece, t5_tokenizer

    vocab = write_t5_tokenizer(tmp_path / "spm")
    from_spm = t5_tokenizer(tmp_path / "spm")
    from_spm.save_pretrained(str(tmp_path / "json"))
    (tmp_path / "json" / "spiece.model").unlink(missing_ok=True)
    from_json = t5_tokenizer(tmp_path / "json")
    text = "a small red star, top left!"
    ids = from_spm(text).input_ids
    assert ids == from_json(text).input_ids and ids[-1] == 1  # </s>
    pieces = from_spm.convert_ids_to_tokens(ids)
    assert pieces[:4] == ["▁a", "▁small", "▁red", "▁star"] and "▁top" in pieces and "▁left" in pieces
    padded = from_spm([text], padding="max_length", max_length=77, truncation=True).input_ids[0]
    assert len(padded) == 77 and padded[len(ids):] == [0] * (77 - len(ids))
    assert from_spm.convert_tokens_to_ids("<extra_id_0>") == vocab - 1  # T5's sentinel order
    assert len(from_spm) == vocab and from_spm.model_max_length == 77
    model = read_sentencepiece(spiece_model(t5_pieces()))
    assert model.pieces[:3] == (("<pad>", 0.0, 3), ("</s>", 0.0, 3), ("<unk>", 0.0, 2)) and model.model_type == 1
    with pytest.raises(ValueError):
        read_sentencepiece(b"\x0a\xff")  # a length past the end
    with pytest.raises(FileNotFoundError, match="no T5 tokenizer"):
        t5_tokenizer(tmp_path)


def test_the_transformers_clip_layout_scores_like_its_towers(make_runtime: Callable[..., Runtime]) -> None:
    from nodes.models.clip_joint import cosine_scores

    rt = make_runtime()
    b = GraphBuilder()
    clip = b.node("CLIPJointLoader", model_path="clip-transformers")
    image = b.node("EmptyImage", width=48, height=40, batch_size=2, color=0x3366CC)
    text = b.node("CLIPTextEncodeProjected", clip_text=clip.out(0), text="a blue picture")
    seen = b.node("CLIPVisionEncode", clip_vision=clip.out(1), image=image.out(0), crop="none")
    score = b.node("CLIPSimilarity", text=text.out(0), images=seen.out(0))
    clip_text, clip_vision, embeds, vision, scores = run(rt, b, clip.out(0), clip.out(1), text.out(0), seen.out(0),
                                                         score.out(0))
    assert clip_text.module is clip_vision.module  # one CLIPModel, both towers
    model = clip_text.module
    ids = clip_text.tokenizer(["a blue picture"], padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():
        expected = model.get_text_features(input_ids=ids)
    expected = getattr(expected, "pooler_output", expected)
    assert torch.allclose(embeds["embeds"], expected, atol=1e-5)
    assert vision["penultimate_hidden_states"].shape == (2, 17, 32) and scores[0] == scores[1]
    assert scores == [round(float(s), 6) for s in cosine_scores(embeds["embeds"], vision["image_embeds"])]


def test_shipped_workflows_validate_and_name_missing_folders(make_runtime: Callable[..., Runtime], tmp_path: Path) -> None:
    from nodes.workflow_files import read_workflow, validate_loaded

    rt = make_runtime()
    for name in ("dalle2-style", "imagen-style"):
        loaded = read_workflow(ROOT / "workflows" / f"{name}.json", rt)
        assert not validate_loaded(loaded, rt).errors, name
        assert all(m.directory in ("priors", "cascades") for m in loaded.models)
    bare = make_runtime(base_dir=str(tmp_path / "bare"))
    loaded = read_workflow(ROOT / "workflows" / "dalle2-style.json", bare)
    [error] = validate_loaded(loaded, bare).errors
    assert "the model file 'karlo-v1-alpha' is missing; put it in the priors folder" in error.message
    loaded = read_workflow(ROOT / "workflows" / "best-of-n.json", bare)
    messages = " ".join(e.message for e in validate_loaded(loaded, bare).errors)
    assert "'clip-vit-large-patch14' is missing; put it in the clip_models folder" in messages


def test_pack_modules_import_no_torch() -> None:
    import subprocess
    import sys

    code = ("import sys; import nodes.builtin.prior, nodes.builtin.cascade, nodes.builtin.clip_vision; "
            "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
