"""A sample of benchmarks/prompt_following.py run as a test, with a threshold.

Every prompt "a <colour> <shape>" (8 colours x 5 shapes) is generated once, with the first seed of the
benchmark, through the shipped workflow, and read back by the classifier.  The full benchmark (4 seeds per
prompt) is what the README quotes against the issue's targets (colour 90%, shape 75%); this sample must reach
85% and 70%.  The margin is for CPUs whose kernels round differently from the machine the model was measured
on (one thread here, so the pictures are the same on every run of one machine).  An untrained or broken
model reads back about one colour in eight and one shape in five, far below either threshold.
"""

from __future__ import annotations

from types import ModuleType

import pytest
import torch

from tests.tiny.conftest import CHECKPOINT

pytestmark = pytest.mark.slow


def test_every_colour_and_shape_is_followed(prompt_following: ModuleType, dataset: ModuleType) -> None:
    assert CHECKPOINT.is_file(), f"{CHECKPOINT} is missing"
    pairs = [(color, shape) for color in dataset.COLORS for shape in dataset.SHAPES]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        report = prompt_following.evaluate(pairs, seeds=1)
    finally:
        torch.set_num_threads(threads)
    assert len(report.outcomes) == 40
    misses = [(o.color, o.shape, o.got_color, o.got_shape) for o in report.outcomes
              if (o.color, o.shape) != (o.got_color, o.got_shape)]
    colors = sum(o.color == o.got_color for o in report.outcomes)
    shapes = sum(o.shape == o.got_shape for o in report.outcomes)
    assert colors >= 34, (f"{colors}/40 colours", misses)
    assert shapes >= 28, (f"{shapes}/40 shapes", misses)
