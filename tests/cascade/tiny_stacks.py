"""Tiny random-weight prior, decoder, cascade and CLIP folders, written in the real diffusers layouts.

Every builder seeds torch itself, so a folder has the same weights in every process. Sizes keep a whole
workflow well under a second a stage on two CPU cores: CLIP towers 32 wide (2 layers), a one-layer prior,
UNets with two or four levels and attention only at the coarsest ones (the super-resolution UNets run at
256 px in the shipped workflows), a 2-layer T5 encoder 32 wide.

:func:`write_model_folders` writes all of them under ``models/`` with the names the shipped workflows
expect (:data:`FOLDERS`), which ``tests/workflows`` uses too. The T5 tokenizer is written as the real
DeepFloyd folder has it, a SentencePiece ``spiece.model`` (encoded here with :func:`spiece_model`, a
few lines of protobuf), over a small lower-case vocabulary.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: ``models/<kind>/<name>`` of each tiny folder, as the shipped workflows name them.
FOLDERS = {
    "unclip": ("priors", "karlo-v1-alpha"),
    "kandinsky_prior": ("priors", "kandinsky-2-2-prior"),
    "kandinsky_decoder": ("decoders", "kandinsky-2-2-decoder"),
    "if_stage_1": ("cascades", "IF-I-XL-v1.0"),
    "if_stage_2": ("cascades", "IF-II-L-v1.0"),
    "clip": ("clip_models", "clip-vit-large-patch14"),
}
WIDTH = 32
#: Words of the tiny T5 vocabulary (each also spelled letter by letter, so any lower-case text encodes).
WORDS = ("a", "red", "green", "blue", "star", "circle", "square", "on", "of", "the", "background", "small",
         "large", "picture", "photo", "in", "corner", "top", "left", "bottom", "right")


# --------------------------------------------------------------------------------------------------
# Components


def tiny_clip_text(seed: int) -> Any:
    import torch
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    config = CLIPTextConfig(hidden_size=WIDTH, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                            vocab_size=49408, max_position_embeddings=77, projection_dim=WIDTH)
    return CLIPTextModelWithProjection(config).eval()


def tiny_clip_vision(seed: int) -> Any:
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    config = CLIPVisionConfig(hidden_size=WIDTH, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                              image_size=32, patch_size=8, projection_dim=WIDTH)
    return CLIPVisionModelWithProjection(config).eval()


def tiny_clip_model(seed: int) -> Any:
    """A whole transformers ``CLIPModel`` (the other CLIP folder layout)."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(seed)
    text = {"hidden_size": WIDTH, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37,
            "vocab_size": 49408, "max_position_embeddings": 77}
    vision = {"hidden_size": WIDTH, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37,
              "image_size": 32, "patch_size": 8}
    return CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=WIDTH)).eval()


def tiny_prior(seed: int) -> Any:
    """A one-layer PriorTransformer with a non-trivial learned CLIP mean and std (zeros would erase the output)."""
    import torch
    from diffusers import PriorTransformer

    torch.manual_seed(seed)
    prior = PriorTransformer(num_attention_heads=2, attention_head_dim=16, num_layers=1, embedding_dim=WIDTH,
                             num_embeddings=77, additional_embeddings=4)
    with torch.no_grad():
        prior.clip_mean.normal_(0.0, 0.1)
        prior.clip_std.uniform_(0.5, 1.5)
        prior.positional_embedding.normal_(0.0, 0.02)
        prior.prd_embedding.normal_(0.0, 0.02)
    return prior.eval()


def _unet(seed: int, **config: Any) -> Any:
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(**config).eval()


#: Three levels, attention (IF's and Karlo's "simple" cross-attention) only at the coarsest.
_SIMPLE_ATTN = {
    "down_block_types": ("ResnetDownsampleBlock2D", "ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
    "up_block_types": ("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D", "ResnetUpsampleBlock2D"),
    "mid_block_type": "UNetMidBlock2DSimpleCrossAttn",
    "block_out_channels": (16, 16, 32),
    "norm_num_groups": 8,
    "layers_per_block": 1,
    "attention_head_dim": 8,
    "resnet_time_scale_shift": "scale_shift",
}


def tiny_unclip_decoder(seed: int) -> Any:
    """unCLIP's decoder: 3 -> 6 channels (learned variance), class_embed_type identity (text_proj's time embedding)."""
    return _unet(seed, sample_size=64, in_channels=3, out_channels=6, cross_attention_dim=WIDTH,
                 class_embed_type="identity", **_SIMPLE_ATTN)


def tiny_text_proj(seed: int) -> Any:
    import torch
    from diffusers.pipelines.deprecated.unclip.text_proj import UnCLIPTextProjModel

    torch.manual_seed(seed)
    proj = UnCLIPTextProjModel(clip_extra_context_tokens=4, clip_embeddings_dim=WIDTH, time_embed_dim=4 * 16,
                               cross_attention_dim=WIDTH)
    with torch.no_grad():
        proj.learned_classifier_free_guidance_embeddings.normal_(0.0, 0.1)
    return proj.eval()


def tiny_unclip_super_res(seed: int) -> Any:
    """A 6 -> 3 channel UNet2DModel without attention (it runs at 256 px)."""
    import torch
    from diffusers import UNet2DModel

    torch.manual_seed(seed)
    return UNet2DModel(sample_size=256, in_channels=6, out_channels=3, block_out_channels=(4, 8),
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       layers_per_block=1, norm_num_groups=4, add_attention=False).eval()


def tiny_kandinsky_unet(seed: int) -> Any:
    """Kandinsky 2.2's decoder UNet: 4 -> 8 channels, conditioned on image embeddings only."""
    return _unet(seed, sample_size=8, in_channels=4, out_channels=8, encoder_hid_dim=WIDTH,
                 encoder_hid_dim_type="image_proj", addition_embed_type="image", cross_attention_dim=WIDTH,
                 **{**_SIMPLE_ATTN, "block_out_channels": (16, 32),
                    "down_block_types": ("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
                    "up_block_types": ("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D")})


def tiny_movq(seed: int) -> Any:
    """A 4-level VQModel (8x down, as the real MoVQ) with spatial norms (which need 32 groups) in the decoder."""
    import torch
    from diffusers import VQModel

    torch.manual_seed(seed)
    return VQModel(in_channels=3, out_channels=3, block_out_channels=(32, 32, 32, 32),
                   down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                   layers_per_block=1, latent_channels=4, num_vq_embeddings=16, vq_embed_dim=4, norm_num_groups=32,
                   norm_type="spatial", sample_size=64).eval()


def tiny_t5(seed: int, vocab_size: int) -> Any:
    import torch
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(seed)
    config = T5Config(vocab_size=vocab_size, d_model=WIDTH, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
                      feed_forward_proj="gated-gelu", is_encoder_decoder=False, use_cache=False)
    return T5EncoderModel(config).eval()


def tiny_if_stage_1(seed: int) -> Any:
    """IF stage I: 3 -> 6 channels at 64 px, T5 states through encoder_hid_proj, pooled text added to time."""
    return _unet(seed, sample_size=64, in_channels=3, out_channels=6, encoder_hid_dim=WIDTH,
                 encoder_hid_dim_type="text_proj", cross_attention_dim=WIDTH, addition_embed_type="text",
                 addition_embed_type_num_heads=2, **_SIMPLE_ATTN)


def tiny_if_stage_2(seed: int) -> Any:
    """IF stage II: 6 -> 6 channels at 256 px, noise level as class label; five narrow levels, attention only
    at the coarsest (16 px for a 256 px picture)."""
    return _unet(seed, sample_size=256, in_channels=6, out_channels=6, encoder_hid_dim=WIDTH,
                 encoder_hid_dim_type="text_proj", cross_attention_dim=WIDTH, addition_embed_type="text",
                 addition_embed_type_num_heads=2, class_embed_type="timestep",
                 down_block_types=("DownBlock2D",) * 4 + ("SimpleCrossAttnDownBlock2D",),
                 up_block_types=("SimpleCrossAttnUpBlock2D",) + ("UpBlock2D",) * 4,
                 mid_block_type="UNetMidBlock2DSimpleCrossAttn", block_out_channels=(4, 8, 8, 16, 16),
                 layers_per_block=1, attention_head_dim=8, norm_num_groups=4, resnet_time_scale_shift="scale_shift")


# --------------------------------------------------------------------------------------------------
# Schedulers (the real folders' settings)


def unclip_scheduler(kind: str) -> Any:
    from diffusers import UnCLIPScheduler

    if kind == "prior":
        return UnCLIPScheduler(variance_type="fixed_small_log", prediction_type="sample", clip_sample_range=5.0)
    if kind == "decoder":
        return UnCLIPScheduler(variance_type="learned_range", prediction_type="epsilon")
    return UnCLIPScheduler(variance_type="fixed_small_log", prediction_type="epsilon")


def if_scheduler(noising: bool = False) -> Any:
    from diffusers import DDPMScheduler

    if noising:
        return DDPMScheduler(beta_schedule="squaredcos_cap_v2", clip_sample=True)
    return DDPMScheduler(beta_schedule="squaredcos_cap_v2", variance_type="learned_range", thresholding=True,
                         dynamic_thresholding_ratio=0.95, sample_max_value=1.5, clip_sample=True)


def kandinsky_decoder_scheduler() -> Any:
    from diffusers import DDPMScheduler

    return DDPMScheduler(beta_schedule="linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                         steps_offset=1, timestep_spacing="leading")


# --------------------------------------------------------------------------------------------------
# Tokenizers


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, wire: int, payload: bytes) -> bytes:
    key = _varint(number << 3 | wire)
    return key + (_varint(len(payload)) + payload if wire == 2 else payload)


def t5_pieces() -> list[tuple[str, float, int]]:
    """T5's three special pieces, then "▁", the letters, digits and punctuation, "▁x" and "▁word" pieces."""
    pieces = [("<pad>", 0.0, 3), ("</s>", 0.0, 3), ("<unk>", 0.0, 2), ("▁", -2.0, 1)]
    singles = list("abcdefghijklmnopqrstuvwxyz0123456789.,'-!?")
    pieces += [(c, -4.0 - i * 0.01, 1) for i, c in enumerate(singles)]
    pieces += [("▁" + c, -3.0 - i * 0.01, 1) for i, c in enumerate(singles) if "▁" + c not in {"▁" + w for w in WORDS}]
    pieces += [("▁" + w, -1.0 - i * 0.01, 1) for i, w in enumerate(WORDS)]
    return pieces


def spiece_model(pieces: list[tuple[str, float, int]]) -> bytes:
    """A SentencePiece ``ModelProto`` (Unigram, identity normaliser) with these pieces."""
    body = b"".join(
        _field(1, 2, _field(1, 2, p.encode()) + _field(2, 5, struct.pack("<f", s)) + _field(3, 0, _varint(t)))
        for p, s, t in pieces
    )
    trainer = _field(3, 0, _varint(1)) + _field(40, 0, _varint(2)) + _field(41, 0, _varint(-1))
    normalizer = _field(1, 2, b"identity") + _field(3, 0, _varint(1))
    return body + _field(2, 2, trainer) + _field(3, 2, normalizer)


def write_t5_tokenizer(folder: Path, extra_ids: int = 100) -> int:
    """Write DeepFloyd's ``tokenizer/`` layout (``spiece.model`` + configs); returns the vocabulary size."""
    folder.mkdir(parents=True, exist_ok=True)
    pieces = t5_pieces()
    (folder / "spiece.model").write_bytes(spiece_model(pieces))
    _json(folder / "tokenizer_config.json", {"tokenizer_class": "T5Tokenizer", "extra_ids": extra_ids,
                                             "model_max_length": 77, "eos_token": "</s>", "pad_token": "<pad>",
                                             "unk_token": "<unk>"})
    _json(folder / "special_tokens_map.json", {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"})
    return len(pieces) + extra_ids


def write_clip_tokenizer(folder: Path) -> None:
    """The committed CLIP vocabulary saved as a transformers tokenizer folder."""
    from nodes.models.tokenizer import clip_tokenizer

    clip_tokenizer("eos").save_pretrained(str(folder))


# --------------------------------------------------------------------------------------------------
# Folders


def _json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def _save(root: Path, parts: dict[str, Any], pipeline: str, extra: dict[str, list[Any]] | None = None) -> Path:
    """Save each component in its subfolder and write ``model_index.json`` naming their classes."""
    index: dict[str, Any] = {"_class_name": pipeline, "_diffusers_version": "0.42.1"}
    for name, module in parts.items():
        module.save_pretrained(str(root / name))
        library = "transformers" if type(module).__module__.startswith("transformers") else "diffusers"
        cls = type(module).__name__
        index[name] = ["unclip" if cls == "UnCLIPTextProjModel" else library, cls]
    index.update(extra or {})
    _json(root / "model_index.json", index)
    return root


def write_unclip(root: Path) -> Path:
    """Karlo's ``UnCLIPPipeline`` layout."""
    write_clip_tokenizer(root / "tokenizer")
    return _save(root, {
        "text_encoder": tiny_clip_text(1), "prior": tiny_prior(2), "text_proj": tiny_text_proj(3),
        "decoder": tiny_unclip_decoder(4), "super_res_first": tiny_unclip_super_res(5),
        "super_res_last": tiny_unclip_super_res(6), "prior_scheduler": unclip_scheduler("prior"),
        "decoder_scheduler": unclip_scheduler("decoder"), "super_res_scheduler": unclip_scheduler("super_res"),
    }, "UnCLIPPipeline", {"tokenizer": ["transformers", "CLIPTokenizer"]})


def write_kandinsky_prior(root: Path) -> Path:
    """``KandinskyV22PriorPipeline``'s layout (with an image_processor config)."""
    write_clip_tokenizer(root / "tokenizer")
    _json(root / "image_processor" / "preprocessor_config.json", {
        "image_processor_type": "CLIPImageProcessor", "crop_size": {"height": 32, "width": 32},
        "size": {"shortest_edge": 32}, "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711]})
    return _save(root, {
        "text_encoder": tiny_clip_text(11), "image_encoder": tiny_clip_vision(12), "prior": tiny_prior(13),
        "scheduler": unclip_scheduler("prior"),
    }, "KandinskyV22PriorPipeline", {"tokenizer": ["transformers", "CLIPTokenizer"],
                                     "image_processor": ["transformers", "CLIPImageProcessor"]})


def write_kandinsky_decoder(root: Path) -> Path:
    return _save(root, {"unet": tiny_kandinsky_unet(21), "movq": tiny_movq(22),
                        "scheduler": kandinsky_decoder_scheduler()}, "KandinskyV22Pipeline")


def write_if_stage_1(root: Path) -> Path:
    """``IFPipeline``'s layout (no safety checker or watermarker: both optional)."""
    vocab = write_t5_tokenizer(root / "tokenizer")
    return _save(root, {"text_encoder": tiny_t5(31, vocab), "unet": tiny_if_stage_1(32), "scheduler": if_scheduler()},
                 "IFPipeline", {"tokenizer": ["transformers", "T5Tokenizer"], "safety_checker": [None, None],
                                "feature_extractor": [None, None], "watermarker": [None, None]})


def write_if_stage_2(root: Path) -> Path:
    """``IFSuperResolutionPipeline``'s layout, without a text encoder (stage I's encodings are reused)."""
    return _save(root, {"unet": tiny_if_stage_2(41), "scheduler": if_scheduler(),
                        "image_noising_scheduler": if_scheduler(noising=True)},
                 "IFSuperResolutionPipeline", {"text_encoder": [None, None], "tokenizer": [None, None]})


def write_clip(root: Path) -> Path:
    """A CLIP model folder in the diffusers layout: text and vision towers with projections."""
    write_clip_tokenizer(root / "tokenizer")
    return _save(root, {"text_encoder": tiny_clip_text(51), "image_encoder": tiny_clip_vision(52)}, "CLIPModel")


def write_clip_model_folder(root: Path) -> Path:
    """A CLIP model folder in the transformers layout (``CLIPModel``), listed through a model_index.json."""
    tiny_clip_model(61).save_pretrained(str(root))
    write_clip_tokenizer(root)
    _json(root / "model_index.json", {"_class_name": "CLIPModel"})
    return root


WRITERS = {
    "unclip": write_unclip,
    "kandinsky_prior": write_kandinsky_prior,
    "kandinsky_decoder": write_kandinsky_decoder,
    "if_stage_1": write_if_stage_1,
    "if_stage_2": write_if_stage_2,
    "clip": write_clip,
}


def write_model_folders(models: Path) -> dict[str, Path]:
    """Write every tiny folder under ``models/`` (:data:`FOLDERS`); returns key -> folder."""
    return {key: WRITERS[key](models / kind / name) for key, (kind, name) in FOLDERS.items()}
