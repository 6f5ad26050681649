"""Engine overhead on chains of trivial integer-add nodes.

For chains of 200, 1000 and 10,000 ``IntAdd`` nodes ending in a ``PreviewAny`` output node, prints the
microseconds per node spent on validation, on a first run, on a fully cached re-run, on a re-run after
changing the last adder's constant (two nodes run), and on validation plus a cached run together. Each figure is the median of several repetitions; the
first-run figure uses a fresh engine each time. ``--hooks`` attaches an event listener (as the server does).

    .venv/bin/python benchmarks/engine_overhead.py [--sizes 200 1000 10000] [--repeat 5] [--hooks]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graph.engine import Engine  # noqa: E402
from nodes.registry import default_registry  # noqa: E402


def chain(n: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"1": {"class_type": "IntAdd", "inputs": {"a": 0, "b": 1}}}
    for i in range(2, n + 1):
        doc[str(i)] = {"class_type": "IntAdd", "inputs": {"a": [str(i - 1), 0], "b": 1}}
    doc["out"] = {"class_type": "PreviewAny", "inputs": {"source": [str(n), 0]}}
    return doc


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(n: int, repeat: int, hooks: bool) -> dict[str, float]:
    registry, _ = default_registry(entry_points=False)
    doc = chain(n)
    changed = chain(n)
    changed[str(n)]["inputs"]["b"] = 2
    events: list[Any] = []
    hook = events.append if hooks else None
    figures: dict[str, list[float]] = {"validate": [], "first run": [], "cached re-run": [], "one change": [], "cached total": []}
    report = Engine(registry).validate(doc)
    report_changed = Engine(registry).validate(changed)
    for _ in range(repeat):
        engine = Engine(registry, hooks=hook)
        figures["validate"].append(timed(lambda: engine.validate(doc)))
        figures["first run"].append(timed(lambda: engine.execute(report)))
        figures["cached re-run"].append(timed(lambda: engine.execute(report)))
        figures["cached total"].append(timed(lambda: engine.execute(engine.validate(doc))))
        result = None

        def change() -> None:
            nonlocal result
            result = engine.execute(report_changed)

        figures["one change"].append(timed(change))
        assert result is not None and len(result.executed) == 2, result.executed
        events.clear()
    return {k: statistics.median(v) * 1e6 / (n + 1) for k, v in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 1000, 10_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--hooks", action="store_true", help="attach an event listener")
    args = parser.parse_args()
    print(f"engine overhead, microseconds per node (median of {args.repeat}; hooks {'on' if args.hooks else 'off'})")
    print(f"{'nodes':>7} {'validate':>10} {'first run':>10} {'cached':>10} {'one change':>11} {'validate+cached':>16}")
    for n in args.sizes:
        f = measure(n, args.repeat, args.hooks)
        print(
            f"{n:>7} {f['validate']:>10.1f} {f['first run']:>10.1f} {f['cached re-run']:>10.1f}"
            f" {f['one change']:>11.1f} {f['cached total']:>16.1f}"
        )
    print("first run, cached and one change time the executor on a validated workflow; the last column is a")
    print("resubmission as the server sees it (validation plus a fully cached run).")


if __name__ == "__main__":
    main()
