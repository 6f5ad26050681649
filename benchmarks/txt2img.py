"""Text to image through latentloom's engine against a plain diffusers loop on the same model.

For each model size it prints:

* **first run**: ``latentloom run`` in a fresh process, from the command to the saved PNG (imports, checkpoint
  load, encode, sample, decode, save), and that process's peak RSS;
* **warm**: the median time per image when the engine already holds the model (a new seed each time, so the
  sampler, the decoder and the saver run again; the prompt encodings come from the cache);
* **plain loop**: the same work written directly against the diffusers modules (noise from the same CPU
  generator, the same Euler steps with classifier-free guidance in one batch of two, VAE decode, PNG save);
* the ratio warm / plain loop (the engine's overhead; target at most 1.05).

Sizes: ``tiny`` (the test-sized SD1 model) and ``sd15`` (a random-weight SD1.5-size single-file checkpoint,
fp16 on disk, about 2.1 GB, written once under benchmarks/.cache/). Resolution 64x64, 4 steps, euler/normal,
cfg 8 by default.

    .venv/bin/python benchmarks/txt2img.py [--sizes tiny sd15] [--steps 4] [--res 64] [--precision fp32|bf16]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
CACHE = ROOT / "benchmarks" / ".cache"
PROMPT = "a photo of a red fox in the snow"
NEGATIVE = "blurry"


def workflow(ckpt: str, steps: int, res: int, seed: int) -> dict[str, Any]:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": PROMPT, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": NEGATIVE, "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": res, "height": res, "batch_size": 1}},
        "3": {
            "class_type": "KSampler",
            "inputs": {"seed": seed, "steps": steps, "cfg": 8.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
                       "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]},
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "bench", "images": ["8", 0]}},
    }


# -- checkpoints -----------------------------------------------------------------------------------------


def tiny_checkpoint(base: Path) -> str:
    from tests.resources.tiny_models import export_single_file

    export_single_file(base / "models" / "checkpoints" / "tiny.safetensors", "sd1")
    return "tiny.safetensors"


def sd15_checkpoint(base: Path) -> str:
    """A random-weight SD1.5-size checkpoint (fp16 on disk), written once and linked into ``base``."""
    path = CACHE / "sd15-random-fp16.safetensors"
    if not path.exists():
        import torch
        from diffusers import AutoencoderKL, UNet2DConditionModel
        from transformers import CLIPTextConfig, CLIPTextModel

        from nodes.models.export import save_checkpoint

        print("writing the SD1.5-size random checkpoint (once) ...", file=sys.stderr)
        torch.manual_seed(0)
        unet = UNet2DConditionModel(cross_attention_dim=768, attention_head_dim=8)
        vae = AutoencoderKL(
            block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        )
        clip = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                            num_attention_heads=12, max_position_embeddings=77, vocab_size=49408,
                                            hidden_act="quick_gelu", projection_dim=768))
        CACHE.mkdir(parents=True, exist_ok=True)
        save_checkpoint(path, unet, vae, (clip,), "sd1", dtype=torch.float16)
    target = base / "models" / "checkpoints" / "sd15.safetensors"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.symlink(path, target)
    return "sd15.safetensors"


# -- engine ----------------------------------------------------------------------------------------------


def first_run(base: Path, ckpt: str, args: argparse.Namespace) -> tuple[float, float]:
    """Seconds from the command to the PNG in a fresh process, and that process's peak RSS in GiB."""
    wf = base / "wf.json"
    wf.write_text(json.dumps(workflow(ckpt, args.steps, args.res, 1)))
    exe = Path(sys.executable).parent / "latentloom"
    cmd = [str(exe), "run", str(wf), "--base-dir", str(base), "--quiet", "--precision", args.precision]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"latentloom run failed:\n{proc.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak, before) / (1 << 20)


def warm_engine(base: Path, ckpt: str, args: argparse.Namespace) -> tuple[Callable[[int], None], Any]:
    """A function that makes one image with a warm engine (model loaded, prompts encoded), and the runtime."""
    from nodes.runtime import Settings, build_runtime

    runtime = build_runtime(Settings(base_dir=str(base), precision=args.precision, entry_points=False))
    engine = runtime.engine
    engine.run(workflow(ckpt, args.steps, args.res, 0))  # load and encode once

    def one(seed: int) -> None:
        result = engine.run(workflow(ckpt, args.steps, args.res, seed))
        assert set(result.executed) == {"3", "8", "9"}, result.executed

    return one, runtime


def plain_loop(runtime: Any, ckpt: str, args: argparse.Namespace) -> Callable[[int], None]:
    """A function that makes the same image written directly against the diffusers modules."""
    import torch
    from diffusers import EulerDiscreteScheduler
    from PIL import Image

    from nodes.models.checkpoint import load_checkpoint

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "auto": torch.float32}[args.precision]
    loaded = load_checkpoint(runtime.folders.find_model("checkpoints", ckpt), dtype=dtype)
    unet, vae, (text_encoder,), (tokenizer,) = loaded.unet, loaded.vae, loaded.text_encoders, loaded.tokenizers
    with torch.inference_mode():
        ids = tokenizer([NEGATIVE, PROMPT], padding="max_length", max_length=77, return_tensors="pt").input_ids
        context = text_encoder(ids).last_hidden_state
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    out = Path(tempfile.mkdtemp())

    def one(seed: int) -> None:
        with torch.inference_mode():
            generator = torch.Generator("cpu").manual_seed(seed)
            latents = torch.randn((1, 4, args.res // 8, args.res // 8), generator=generator, dtype=torch.float32)
            scheduler.set_timesteps(args.steps)
            latents = (latents * scheduler.init_noise_sigma).to(dtype)
            for t in scheduler.timesteps:
                x = scheduler.scale_model_input(torch.cat([latents] * 2), t)
                uncond, cond = unet(x, t, encoder_hidden_states=context).sample.chunk(2)
                latents = scheduler.step(uncond + 8.0 * (cond - uncond), t, latents).prev_sample
            image = vae.decode(latents / vae.config.scaling_factor).sample
            pixels = ((image[0].float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, format="PNG", compress_level=4)
            (out / f"plain_{seed}.png").write_bytes(buffer.getvalue())

    return one


def interleaved(engine_one: Callable[[int], None], plain_one: Callable[[int], None], repeat: int) -> tuple[float, float]:
    """Median seconds per image of each, runs alternating so that load changes hit both alike."""
    engine_times, plain_times = [], []
    for seed in range(1, repeat + 1):
        for one, times in ((engine_one, engine_times), (plain_one, plain_times)):
            start = time.perf_counter()
            one(seed)
            times.append(time.perf_counter() - start)
    return statistics.median(engine_times), statistics.median(plain_times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["tiny", "sd15"], choices=["tiny", "sd15"])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--res", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    args = parser.parse_args()
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    print(f"txt2img, {args.res}x{args.res}, {args.steps} steps euler/normal, cfg 8, {args.precision} compute")
    for size in args.sizes:
        base = Path(tempfile.mkdtemp(prefix=f"latentloom-bench-{size}-"))
        ckpt = tiny_checkpoint(base) if size == "tiny" else sd15_checkpoint(base)
        cold, peak = first_run(base, ckpt, args)
        engine_one, runtime = warm_engine(base, ckpt, args)
        warm, plain = interleaved(engine_one, plain_loop(runtime, ckpt, args), args.repeat)
        print(f"{size:>5}: first run {cold:6.2f} s (peak RSS {peak:.2f} GiB)   warm {warm:7.3f} s/image   "
              f"plain diffusers loop {plain:7.3f} s/image   ratio {warm / plain:.3f}")


if __name__ == "__main__":
    main()
