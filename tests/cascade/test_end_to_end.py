"""The three designs through the engine on tiny random-weight folders: DALL-E 2-style (prior, decoder,
super-resolution), Kandinsky 2.2, Imagen-style (T5, pixel base, noise-augmented super-resolution) and
"generate N, keep the best by CLIP score"; deterministic by seed, progress per step, shapes as promised."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from graph.events import Event, Progress
from nodes.api import GraphBuilder
from nodes.runtime import Runtime
from tests.cascade.conftest import run, run_error
from tests.cascade.tiny_stacks import FOLDERS

PROMPT = "a red star on a blue background"


def dalle2(b: GraphBuilder, seed: int = 1, *, prior_steps: int = 3, steps: int = 3, size: int = 32) -> dict[str, Any]:
    stack = b.node("UnCLIPStackLoader", model_path=FOLDERS["unclip"][1])
    text = b.node("CLIPTextEncodeProjected", clip_text=stack.out(0), text=PROMPT)
    embeds = b.node("PriorSample", prior=stack.out(1), text=text.out(0), seed=seed, steps=prior_steps, guidance=4.0)
    small = b.node("DecoderSample", decoder=stack.out(2), image_embeds=embeds.out(0), text=text.out(0), seed=seed,
                   steps=steps, guidance=8.0, width=size, height=size)
    big = b.node("SuperResolution", model=stack.out(3), image=small.out(0), seed=seed, steps=2, width=2 * size,
                 height=2 * size)
    return {"text": text.out(0), "embeds": embeds.out(0), "small": small.out(0), "big": big.out(0),
            "prior_id": embeds.id}


def imagen(b: GraphBuilder, seed: int = 1, *, batch: int = 1, negative: str = "") -> dict[str, Any]:
    base = b.node("CascadeBaseLoader", model_path=FOLDERS["if_stage_1"][1])
    text = b.node("T5TextEncode", t5=base.out(0), text=PROMPT, negative=negative)
    small = b.node("PixelSample", model=base.out(1), text=text.out(0), seed=seed, steps=3, guidance=7.0, width=32,
                   height=32, batch_size=batch)
    stage_2 = b.node("CascadeSuperResLoader", model_path=FOLDERS["if_stage_2"][1])
    big = b.node("SuperResolution", model=stage_2.out(0), image=small.out(0), text=text.out(0), seed=seed, steps=2,
                 guidance=4.0, noise_level=250, width=64, height=64)
    return {"t5": base.out(0), "text": text.out(0), "small": small.out(0), "big": big.out(0)}


def test_dalle2_style_stack_end_to_end_and_deterministic_by_seed(make_runtime: Callable[..., Runtime]) -> None:
    events: list[Event] = []
    rt = make_runtime(cache="none", hooks=events.append)
    b = GraphBuilder()
    g = dalle2(b)
    text, embeds, small, big = run(rt, b, g["text"], g["embeds"], g["small"], g["big"])
    assert text["embeds"].shape == (1, 32) and text["hidden"].shape == (1, 77, 32) and text["mask"][0, :2].all()
    assert embeds["embeds"].shape == (1, 32) and embeds["negative"] is None  # unCLIP: learned uncond in text_proj
    assert small.shape == (1, 32, 32, 3) and big.shape == (1, 64, 64, 3)
    assert 0.0 <= float(big.min()) and float(big.max()) <= 1.0
    prior_steps = [e for e in events if isinstance(e, Progress) and e.node == g["prior_id"]]
    assert [(e.value, e.max) for e in prior_steps] == [(1, 3), (2, 3), (3, 3)]

    b = GraphBuilder()
    again = dalle2(b)
    [embeds_2, big_2] = run(rt, b, again["embeds"], again["big"])
    assert torch.equal(embeds_2["embeds"], embeds["embeds"]) and torch.equal(big_2, big)
    b = GraphBuilder()
    other = dalle2(b, seed=2)
    [embeds_3, big_3] = run(rt, b, other["embeds"], other["big"])
    assert not torch.equal(embeds_3["embeds"], embeds["embeds"]) and not torch.equal(big_3, big)


def test_prior_batch_and_guidance_change_the_embeddings(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime()
    b = GraphBuilder()
    stack = b.node("UnCLIPStackLoader", model_path=FOLDERS["unclip"][1])
    text = b.node("CLIPTextEncodeProjected", clip_text=stack.out(0), text=PROMPT)
    two = b.node("PriorSample", prior=stack.out(1), text=text.out(0), seed=5, steps=3, batch_size=2)
    plain = b.node("PriorSample", prior=stack.out(1), text=text.out(0), seed=5, steps=3, guidance=1.0)
    guided = b.node("PriorSample", prior=stack.out(1), text=text.out(0), seed=5, steps=3, guidance=4.0)
    pair, unguided, one = run(rt, b, two.out(0), plain.out(0), guided.out(0))
    assert pair["embeds"].shape == (2, 32) and not torch.equal(pair["embeds"][0], pair["embeds"][1])
    assert not torch.equal(unguided["embeds"], one["embeds"])


def test_kandinsky_prior_and_decoder(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime(cache="none")

    def graph(negative: str) -> tuple[GraphBuilder, Any, Any]:
        b = GraphBuilder()
        prior = b.node("KandinskyPriorLoader", model_path=FOLDERS["kandinsky_prior"][1])
        decoder = b.node("KandinskyDecoderLoader", model_path=FOLDERS["kandinsky_decoder"][1])
        text = b.node("CLIPTextEncodeProjected", clip_text=prior.out(0), text=PROMPT, negative=negative)
        embeds = b.node("PriorSample", prior=prior.out(2), text=text.out(0), seed=3, steps=3)
        image = b.node("DecoderSample", decoder=decoder.out(0), image_embeds=embeds.out(0), seed=3, steps=3,
                       guidance=4.0, width=64, height=64)
        return b, embeds.out(0), image.out(0)

    b, embeds, image = graph("")
    empty, picture = run(rt, b, embeds, image)
    # no negative prompt: the negative image embedding is the image encoder's embedding of an empty picture
    b = GraphBuilder()
    vision = b.node("KandinskyPriorLoader", model_path=FOLDERS["kandinsky_prior"][1]).out(1)
    [clip_vision] = run(rt, b, vision)
    assert torch.allclose(empty["negative"], clip_vision.empty_image_embeds(), atol=1e-6)
    assert picture.shape == (1, 64, 64, 3)  # MoVQ decodes 8x8 latents
    b, embeds, image = graph("blurry")
    with_negative, picture_2 = run(rt, b, embeds, image)
    assert with_negative["negative"].shape == (1, 32) and not torch.equal(with_negative["negative"], empty["negative"])
    assert with_negative["embeds"].shape == (1, 32) and picture_2.shape == (1, 64, 64, 3)
    b, embeds, image = graph("")
    [picture_3] = run(rt, b, image)
    assert torch.equal(picture_3, picture)


def test_imagen_style_cascade_end_to_end_and_deterministic_by_seed(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime(cache="none")
    b = GraphBuilder()
    g = imagen(b)
    text, small, big = run(rt, b, g["text"], g["small"], g["big"])
    assert text["hidden"].shape == (1, 77, 32)
    assert int(text["mask"].sum()) == 8 and int(text["negative_mask"].sum()) == 1  # 7 words + </s>; "" is </s>
    assert small.shape == (1, 32, 32, 3) and big.shape == (1, 64, 64, 3)
    b = GraphBuilder()
    [big_2] = run(rt, b, imagen(b)["big"])
    assert torch.equal(big_2, big)
    b = GraphBuilder()
    [big_3] = run(rt, b, imagen(b, seed=2)["big"])
    assert not torch.equal(big_3, big)


def test_the_t5_encoder_is_loaded_for_new_prompts_only_and_released_after(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime(cache="none")  # every node runs again: the T5 handle's own cache must do the work
    b = GraphBuilder()
    g = imagen(b)
    t5, _ = run(rt, b, g["t5"], g["big"])
    assert (t5.loads, t5.encoded, t5.resident) == (1, 2, False)  # prompt and "" in one load, then released
    assert t5.last_record is not None and t5.last_record() is None  # the manager no longer holds it
    assert not any(m.name.endswith(":text_encoder") for m in rt.models.models())
    b = GraphBuilder()
    run(rt, b, imagen(b, seed=4)["big"])
    assert (t5.loads, t5.encoded) == (1, 2)  # same prompt: cached encodings, no load
    b = GraphBuilder()
    run(rt, b, imagen(b, negative="blurry")["text"])
    assert (t5.loads, t5.encoded) == (2, 3)  # only the new negative prompt went through the model


def test_the_t5_encoder_runs_under_the_model_manager(make_runtime: Callable[..., Runtime]) -> None:
    from nodes.memory import Budgets, ModelManager, MoveSpy, SimulatedDevice

    reference = make_runtime(cache="none")
    b = GraphBuilder()
    [expected] = run(reference, b, imagen(b)["big"])
    rt = make_runtime(cache="none")
    spy = MoveSpy(SimulatedDevice())
    gib = 1 << 30
    rt.services["models"] = ModelManager(mover=spy, budgets=Budgets("normalvram", gib, gib, gib, 0,
                                                                    keep_ram_copy=True, text_encoders_on_offload=False,
                                                                    eager=False))
    b = GraphBuilder()
    g = imagen(b)
    t5, big = run(rt, b, g["t5"], g["big"])
    assert torch.equal(big, expected)  # same numbers with the weights moved by the manager
    stage_1 = FOLDERS["if_stage_1"][1]
    assert ("load", f"{stage_1}:text_encoder") in rt.models.events  # made resident on the (simulated) device
    assert any(direction == "in" for direction, _ in spy.log)  # real copies to the device
    assert t5.last_record() is None and t5.resident is False  # and is gone now: not offloaded, freed
    assert {m.name for m in rt.models.models()} == {f"{stage_1}:unet", f"{FOLDERS['if_stage_2'][1]}:unet"}


def test_best_of_n_keeps_the_picture_closest_to_the_prompt(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime()
    b = GraphBuilder()
    g = imagen(b, batch=4)
    clip = b.node("CLIPJointLoader", model_path=FOLDERS["clip"][1])
    text = b.node("CLIPTextEncodeProjected", clip_text=clip.out(0), text=PROMPT)
    seen = b.node("CLIPVisionEncode", clip_vision=clip.out(1), image=g["small"], crop="center")
    scores = b.node("CLIPSimilarity", text=text.out(0), images=seen.out(0))
    best = b.node("RankImages", images=g["small"], scores=scores.out(0), keep=2)
    batch, vision, all_scores, summary, kept, kept_scores = run(
        rt, b, g["small"], seen.out(0), scores.out(0), scores.out(1), best.out(0), best.out(1))
    assert vision["image_embeds"].shape == (4, 32) and vision.image_embeds is vision["image_embeds"]
    assert len(all_scores) == 4 and all(-1.0 <= s <= 1.0 for s in all_scores) and summary.count("\n") == 3
    order = sorted(range(4), key=lambda i: -all_scores[i])
    assert kept.shape == (2, 32, 32, 3) and torch.equal(kept, batch[order[:2]])
    assert kept_scores == [all_scores[i] for i in order[:2]]


def test_wrong_wiring_fails_with_a_message_that_says_what_to_connect(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime()
    b = GraphBuilder()
    stack = b.node("UnCLIPStackLoader", model_path=FOLDERS["unclip"][1])
    text = b.node("CLIPTextEncodeProjected", clip_text=stack.out(0), text=PROMPT)
    embeds = b.node("PriorSample", prior=stack.out(1), text=text.out(0), steps=2)
    no_text = b.node("DecoderSample", decoder=stack.out(2), image_embeds=embeds.out(0), steps=2, width=16, height=16)
    assert "connect CLIP_TEXT_EMBEDS to 'text'" in run_error(rt, b, no_text.out(0))
    b = GraphBuilder()
    kandinsky = b.node("KandinskyPriorLoader", model_path=FOLDERS["kandinsky_prior"][1])
    clip = b.node("CLIPJointLoader", model_path="clip-transformers")
    other = b.node("CLIPTextEncodeProjected", clip_text=clip.out(0), text=PROMPT)
    ok = b.node("PriorSample", prior=kandinsky.out(2), text=other.out(0), steps=2)
    run(rt, b, ok.out(0))  # same width: it runs (the engine cannot know the towers differ)
    b = GraphBuilder()
    stage_2 = b.node("CascadeSuperResLoader", model_path=FOLDERS["if_stage_2"][1])
    image = b.node("EmptyImage", width=16, height=16, batch_size=1, color=0)
    sr = b.node("SuperResolution", model=stage_2.out(0), image=image.out(0), steps=2, width=32, height=32)
    assert "connect T5_EMBEDS to 'text'" in run_error(rt, b, sr.out(0))
