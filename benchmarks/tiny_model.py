"""Speed of the main job: ``latentloom run workflows/txt2img.json`` with latentloom-tiny (64x64, 20 steps).

    .venv/bin/python benchmarks/tiny_model.py                 # 3 cold runs, 10 warm images
    .venv/bin/python benchmarks/tiny_model.py --cold 5 --warm 20 --threads 1

* **cold**: wall time of the command in a fresh process, from launch to exit with the PNG written
  (Python start-up, imports of torch / diffusers / transformers, engine assembly, checkpoint load,
  text encoding, sampling, decoding and saving included).
* **warm**: seconds per image in one process whose engine has already run the workflow once (model
  loaded and cached, imports done): each run changes only the seed, so the sampler, the decoder and
  SaveImage run again while the loader and the text encoders are served from the cache, as in an
  interactive session.

Targets on the project's 2-core machine: cold under 10 s, warm under 0.5 s.  The machine is shared:
the load average is printed with the figures, and the medians are the ones to quote.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
WORKFLOW = ROOT / "workflows" / "txt2img.json"
COLD_TARGET, WARM_TARGET = 10.0, 0.5


def cli_command() -> list[str]:
    """The installed ``latentloom`` console script next to this interpreter, else ``python -m nodes.cli``."""
    script = Path(sys.executable).with_name("latentloom")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "nodes.cli"]


def cold_runs(count: int, threads: int | None) -> list[float]:
    """Seconds of ``count`` fresh ``latentloom run`` processes, each checked to have written its PNG."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    times = []
    for i in range(count):
        with tempfile.TemporaryDirectory() as out:
            command = [*cli_command(), "run", str(WORKFLOW), "--base-dir", str(ROOT), "--output-dir", out, "-q"]
            command += ["--set", f"Sampler.seed={i}"]
            started = time.perf_counter()
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - started
            if done.returncode != 0 or not list(Path(out).glob("latentloom_*.png")):
                raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
            times.append(seconds)
    return times


def warm_runs(count: int, threads: int | None) -> list[float]:
    """Seconds per image for ``count`` runs after one warm-up run, in this process."""
    import torch

    from nodes.runtime import Settings, build_runtime

    if threads is not None:
        torch.set_num_threads(threads)
    doc = json.loads(WORKFLOW.read_text())
    if str(doc.get("format", "")).startswith("latentloom-workflow/"):  # a parameterised file: its API graph
        doc = doc["prompt"]
    sampler = next(n for n in doc.values() if n.get("_meta", {}).get("title") == "Sampler")
    times = []
    with tempfile.TemporaryDirectory() as out:
        runtime = build_runtime(Settings(base_dir=str(ROOT), output_dir=out, entry_points=False, disable_custom_nodes=True))
        for i in range(count + 1):
            sampler["inputs"]["seed"] = 1000 + i
            started = time.perf_counter()
            result = runtime.engine.run(doc)
            seconds = time.perf_counter() - started
            if not result.ok:
                raise RuntimeError(str(result.error))
            if i:  # the first run loads the model
                times.append(seconds)
        if len(list(Path(out).glob("latentloom_*.png"))) != count + 1:
            raise RuntimeError("the warm runs did not each write a PNG")
    return times


def summary(times: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "runs": len(times)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--cold", type=int, default=3, help="fresh processes to time (default 3)")
    parser.add_argument("--warm", type=int, default=10, help="images to time in one warm process (default 10)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = {
        "cold_s": summary(cold_runs(args.cold, args.threads)) if args.cold else None,
        "warm_s_per_image": summary(warm_runs(args.warm, args.threads)) if args.warm else None,
        "load_average": os.getloadavg()[0],
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"latentloom run workflows/txt2img.json (64x64, 20 steps, euler) on {figures['cpus']} CPUs, "
          f"load average {figures['load_average']:.1f}")
    for key, label, target in (("cold_s", "cold, command to PNG", COLD_TARGET), ("warm_s_per_image", "warm, per image", WARM_TARGET)):
        value = figures[key]
        if value:
            print(f"{label:22s} median {value['median']:6.2f} s  (min {value['min']:.2f}, max {value['max']:.2f}, "
                  f"{value['runs']} runs; target < {target} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
