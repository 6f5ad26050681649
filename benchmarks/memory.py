"""Bytes moved by the model manager's eviction against the minimum possible, and peak device bytes.

Three models of equal size (tiny SD1-shaped UNets by default; ``--width 320 --layers 2`` gives an SD1.5-size
one, several GB each) run 30 jobs under a device budget that holds two of them plus one job's working
memory.  Each job is one UNet evaluation through ``ModelManager.run`` on a simulated device (every move a
real, counted copy; see ``nodes/memory/devices.py``), so the figures are the manager's own behaviour, not a
model of it.  For each request sequence the script prints:

* moved: bytes copied to the device (a spy on the mover), against the minimum for that sequence: Belady's
  offline policy (on a miss, evict the model whose next use is farthest), optimal for equal-size models;
  the target is at most 1.3x.  Three policies: least recently used alone, and LRU told the models of the
  next 1 or 4 queued jobs (``ModelManager.expect``; the server's worker tells it the next 4);
* peak: the most bytes on the device at once (weights, streamed blocks and reserved working memory, the
  larger of the manager's count and an outside measurement of which weights are off their resting
  tensors), against the budget: never over.

Sequences: ``sticky`` (each job keeps the previous job's model with probability 1/2, else picks one of the
three: a user iterating with an occasional switch), ``uniform`` (independent picks) and ``cyclic``
(A B C A B C ..., LRU's worst case: every request misses, while Belady misses every other one).  The
last lines give the ratio's mean and worst over 200 seeded sequences of each kind, from a policy
simulation that the script checks moves exactly the bytes the manager moved on the sequences above.
The exit status is 1 when a peak exceeds the budget or the server's policy misses the target.

    .venv/bin/python benchmarks/memory.py [--jobs 30] [--seed 0] [--width 32] [--layers 1]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from nodes.memory import Budgets, ModelManager, MoveSpy, SimulatedDevice  # noqa: E402

MIB = 1 << 20
TARGET = 1.3
LOOKAHEAD = 4  # server/worker.py LOOKAHEAD: queued jobs whose models the worker tells the manager about


# --------------------------------------------------------------------------------------------------
# Request sequences and the two policies, as pure functions of the sequence


def sequence(kind: str, jobs: int, rng: random.Random, models: int = 3) -> list[int]:
    """A request sequence of ``jobs`` model indices (see the module docstring)."""
    if kind == "cyclic":
        return [i % models for i in range(jobs)]
    if kind == "uniform":
        return [rng.randrange(models) for _ in range(jobs)]
    out = [rng.randrange(models)]
    while len(out) < jobs:
        out.append(out[-1] if rng.random() < 0.5 else rng.randrange(models))
    return out


def policy_bytes(requests: Sequence[int], sizes: Sequence[int], capacity: int, lookahead: int = 0) -> int:
    """Bytes loaded by the manager's eviction of whole models (evicting is free: RAM copies are kept).

    Without look-ahead, least recently used.  With ``lookahead`` queued jobs known (``ModelManager.expect``):
    first the least recently used model none of them needs, else the one needed farthest ahead.
    """
    resident: list[int] = []  # least recent first
    moved = 0
    for i, model in enumerate(requests):
        if model in resident:
            resident.remove(model)
        else:
            window = list(requests[i + 1 : i + 1 + lookahead])
            while resident and sum(sizes[m] for m in resident) + sizes[model] > capacity:
                nxt = {m: window.index(m) if m in window else len(window) for m in resident}
                resident.remove(min(resident, key=lambda m: (-nxt[m], resident.index(m))))
            moved += sizes[model]
        resident.append(model)
    return moved


def belady_bytes(requests: Sequence[int], sizes: Sequence[int], capacity: int) -> int:
    """Bytes loaded by Belady's offline policy: on a miss, evict the model used again farthest in the future."""
    resident: set[int] = set()
    moved = 0
    for i, model in enumerate(requests):
        if model in resident:
            continue

        def next_use(m: int) -> int:
            rest = requests[i + 1 :]
            return rest.index(m) if m in rest else len(requests)

        while resident and sum(sizes[m] for m in resident) + sizes[model] > capacity:
            resident.remove(max(resident, key=next_use))
        resident.add(model)
        moved += sizes[model]
    return moved


# --------------------------------------------------------------------------------------------------
# The real manager


def tiny_unet(width: int, layers: int, seed: int) -> Any:
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=layers, block_out_channels=(width, 2 * width),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8,
    ).eval()


def resting_offsets(unets: Sequence[Any]) -> dict[int, int]:
    return {id(p): p.data_ptr() for u in unets for p in u.parameters()}


def measured_on_device(unets: Sequence[Any], resting: dict[int, int]) -> int:
    """Bytes of weights that are not their resting tensors: on the simulated device (an outside measurement)."""
    return sum(p.nbytes for u in unets for p in u.parameters() if p.data_ptr() != resting[id(p)])


def run_sequence(requests: Sequence[int], unets: Sequence[Any], working: int, lookahead: int) -> dict[str, int]:
    """The jobs through a fresh manager, told about the next ``lookahead`` jobs as the server's worker does."""
    sizes = [sum(t.nbytes for t in (*u.parameters(), *u.buffers())) for u in unets]
    budget = 2 * max(sizes) + working
    spy = MoveSpy(SimulatedDevice())
    manager = ModelManager(mover=spy, budgets=Budgets("normalvram", budget, budget, 1 << 40, 0))
    entries = [manager.register([u], name=f"{'ABC'[i]}.safetensors:unet", kind="unet") for i, u in enumerate(unets)]
    resting = resting_offsets(unets)
    x, cond = torch.randn(2, 4, 8, 8), torch.randn(2, 77, 32)
    outside_peak = 0

    def job(unet: Any) -> None:
        nonlocal outside_peak
        outside_peak = max(outside_peak, measured_on_device(unets, resting) + working)
        with torch.no_grad():
            unet(x, 500, encoder_hidden_states=cond)

    for i, model in enumerate(requests):
        manager.expect([[f"{'ABC'[m]}.safetensors"] for m in requests[i + 1 : i + 1 + lookahead]])
        manager.run(lambda _attempt, m=model: job(unets[m]), entries[model], working=working, what="job")
    return {"moved": spy.bytes("in"), "back": spy.bytes("out"), "peak": manager.peak, "outside_peak": outside_peak,
            "budget": budget, "evictions": manager.stats.evictions, "size": sizes[0]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=32, help="UNet block_out_channels[0] (320: SD1.5 width)")
    parser.add_argument("--layers", type=int, default=1, help="layers per block (SD1.5: 2)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    unets = [tiny_unet(args.width, args.layers, seed) for seed in range(3)]
    working = 1 * MIB  # one job's working memory, reserved next to the weights
    size = sum(t.nbytes for t in (*unets[0].parameters(), *unets[0].buffers()))
    print(f"memory benchmark: 3 models of {size / MIB:.1f} MiB, budget {(2 * size + working) / MIB:.1f} MiB "
          f"(two models + {working / MIB:.0f} MiB working memory), {args.jobs} jobs, simulated device")
    print("moved: MiB copied to the device; min: Belady's offline minimum; look-ahead n: the manager told the models "
          f"of the next n queued jobs (the server tells it {LOOKAHEAD})")
    print(f"{'sequence':<9} {'requests':<32} {'min':>6}  {'LRU alone':>14}  {'look-ahead 1':>14}  "
          f"{f'look-ahead {LOOKAHEAD}':>14}  {'peak/budget MiB':>15}  ok")
    failures = 0
    for kind in ("sticky", "uniform", "cyclic"):
        requests = sequence(kind, args.jobs, random.Random(args.seed))
        sizes = [size] * 3
        minimum = belady_bytes(requests, sizes, 2 * size)
        cells, peaks, budget = [], [], 0
        for lookahead in (0, 1, LOOKAHEAD):
            result = run_sequence(requests, unets, working, lookahead)
            assert result["moved"] == policy_bytes(requests, sizes, 2 * size, lookahead)  # the manager's policy, exactly
            assert result["back"] == 0  # evicting copies nothing: the RAM copy is kept
            peaks.append(max(result["peak"], result["outside_peak"]))
            budget = result["budget"]
            cells.append(f"{result['moved'] / MIB:6.1f} {result['moved'] / minimum:5.2f}x")
        ratio_server = policy_bytes(requests, sizes, 2 * size, LOOKAHEAD) / minimum
        ok = max(peaks) <= budget and ratio_server <= TARGET
        failures += not ok
        shown = "".join("ABC"[m] for m in requests)
        shown = shown if len(shown) <= 32 else shown[:29] + "..."
        print(f"{kind:<9} {shown:<32} {minimum / MIB:6.1f}  {cells[0]:>14}  {cells[1]:>14}  {cells[2]:>14}  "
              f"{max(peaks) / MIB:>7.1f}/{budget / MIB:<7.1f}  {'yes' if ok else 'NO'}")
    print(f"LRU/minimum over 200 random {args.jobs}-job sequences of each kind (mean, worst):")
    for kind in ("sticky", "uniform", "cyclic"):
        figures = []
        for lookahead in (0, 1, LOOKAHEAD):
            ratios = []
            for seed in range(200):
                requests = sequence(kind, args.jobs, random.Random(1000 + seed))
                ratios.append(policy_bytes(requests, [1, 1, 1], 2, lookahead) / belady_bytes(requests, [1, 1, 1], 2))
            figures.append(f"look-ahead {lookahead}: {statistics.mean(ratios):.2f}x, {max(ratios):.2f}x")
        print(f"  {kind:<8} " + "; ".join(figures).replace("look-ahead 0", "LRU alone"))
    print("Without look-ahead no online policy beats LRU here in expectation (for independent picks every resident "
          "model is equally likely to be next), and cyclic is LRU's worst case; the gap to the minimum is the value "
          "of knowing the queue.")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
