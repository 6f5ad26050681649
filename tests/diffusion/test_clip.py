"""CLIP through CLIPTextEncode / CLIPSetLastLayer: weights, chunks, layers, SDXL shapes."""

from __future__ import annotations

import pytest
import torch

from nodes.api import GraphBuilder
from nodes.runtime import Runtime
from tests.diffusion.conftest import load, run
from tests.resources.tiny_models import Tiny


def _encode(rt: Runtime, family: str, text: str, layer: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    b = GraphBuilder()
    clip = b.node("CheckpointLoaderSimple", ckpt_name=f"{family}.safetensors").out(1)
    if layer is not None:
        clip = b.node("CLIPSetLastLayer", clip=clip, stop_at_clip_layer=layer).out(0)
    [[[cond, extra]]] = run(rt, b, b.node("CLIPTextEncode", text=text, clip=clip).out(0))
    return cond, extra["pooled_output"]


def test_a_weight_scales_the_token_away_from_the_empty_prompt(rt: Runtime) -> None:
    _, clip, _ = load(rt, "sd1.safetensors")
    plain, _ = clip.encode("a cat")
    empty, _ = clip.encode("")
    weighted, _ = clip.encode("a (cat:1.5)")
    assert clip.tokenize("a (cat:1.5)")[0][0][2] == (2368, 1.5)  # BOS, "a", "cat"
    expected = plain.clone()
    expected[:, 2] = empty[:, 2] + (plain[:, 2] - empty[:, 2]) * 1.5
    torch.testing.assert_close(weighted, expected, rtol=0, atol=1e-5)
    assert (weighted[:, 2] - plain[:, 2]).abs().max() > 1e-2  # the weight did something
    # nested parentheses: 1.1 ** 2
    nested, _ = clip.encode("a ((cat))")
    torch.testing.assert_close(nested[:, 2], empty[:, 2] + (plain[:, 2] - empty[:, 2]) * 1.21, rtol=0, atol=1e-5)


def test_a_200_token_prompt_is_three_chunks(rt: Runtime) -> None:
    _, clip, _ = load(rt, "sd1.safetensors")
    cond, pooled = clip.encode(" ".join(["cat"] * 200))
    assert cond.shape == (1, 231, 32)
    first, _ = clip.encode(" ".join(["cat"] * 75))
    last, _ = clip.encode(" ".join(["cat"] * 50))
    torch.testing.assert_close(cond[:, :77], first, rtol=0, atol=1e-5)
    torch.testing.assert_close(cond[:, 154:], last, rtol=0, atol=1e-5)
    torch.testing.assert_close(pooled, clip.encode(" ".join(["cat"] * 75))[1], rtol=0, atol=1e-5)


def test_clip_skip_selects_the_penultimate_layer(rt: Runtime, tiny_models: dict[str, Tiny]) -> None:
    last, _ = _encode(rt, "sd1", "a photo of a cat")
    skipped, _ = _encode(rt, "sd1", "a photo of a cat", layer=-2)
    assert not torch.allclose(last, skipped)
    encoder = tiny_models["sd1"].text_encoders[0]
    _, clip, _ = load(rt, "sd1.safetensors")
    ids = torch.tensor([[token for token, _ in clip.tokenize("a photo of a cat")[0][0]]])
    with torch.no_grad():
        hidden = encoder(input_ids=ids, output_hidden_states=True).hidden_states[-2]
        assert torch.equal(skipped, encoder.final_layer_norm(hidden))
    beyond, _ = _encode(rt, "sd1", "a photo of a cat", layer=-24)  # deeper than 2 layers: the final output
    assert torch.equal(beyond, last)


def test_sd2_conditions_on_the_penultimate_layer_by_default(rt: Runtime) -> None:
    default, _ = _encode(rt, "sd2", "a photo")
    assert torch.equal(default, _encode(rt, "sd2", "a photo", layer=-2)[0])
    assert not torch.allclose(default, _encode(rt, "sd2", "a photo", layer=-1)[0])


def test_sdxl_concatenates_both_encoders_and_pools_the_projection(rt: Runtime, tiny_models: dict[str, Tiny]) -> None:
    _, clip, _ = load(rt, "sdxl.safetensors")
    cond, pooled = clip.encode("a photo of a cat")
    assert cond.shape == (1, 77, 64) and pooled.shape == (1, 32)
    l_tokens, g_tokens = (torch.tensor([[t for t, _ in chunks[0]]]) for chunks in clip.tokenize("a photo of a cat"))
    assert l_tokens[0, -1] == 49407 and g_tokens[0, -1] == 0  # CLIP-L pads with EOS, OpenCLIP-G with 0
    clip_l, clip_g = tiny_models["sdxl"].text_encoders
    with torch.no_grad():
        out_l = clip_l(input_ids=l_tokens, output_hidden_states=True)
        out_g = clip_g(input_ids=g_tokens, output_hidden_states=True)
    assert torch.equal(cond, torch.cat([out_l.hidden_states[-2], out_g.hidden_states[-2]], dim=-1))
    assert torch.equal(pooled, out_g.text_embeds)
    long_cond, long_pooled = clip.encode(" ".join(["cat"] * 200))
    assert long_cond.shape == (1, 231, 64) and long_pooled.shape == (1, 32)
    assert not torch.allclose(_encode(rt, "sdxl", "a photo of a cat", layer=-1)[0], cond)


@pytest.mark.parametrize("layer", [0, 3])
def test_with_layer_refuses_non_negative_layers(rt: Runtime, layer: int) -> None:
    _, clip, _ = load(rt, "sd1.safetensors")
    with pytest.raises(ValueError, match="must be negative"):
        clip.with_layer(layer)
