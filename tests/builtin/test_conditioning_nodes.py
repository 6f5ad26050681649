"""The conditioning pack, called directly with small tensors; inputs are never modified."""

import logging
from typing import Any

import pytest
import torch

from nodes.builtin.conditioning.conditioning_average import conditioning_average
from nodes.builtin.conditioning.conditioning_combine import conditioning_combine
from nodes.builtin.conditioning.conditioning_concat import conditioning_concat
from nodes.builtin.conditioning.conditioning_set_area import conditioning_set_area
from nodes.builtin.conditioning.conditioning_set_timestep_range import conditioning_set_timestep_range
from nodes.builtin.conditioning.conditioning_zero_out import conditioning_zero_out


def cond(value: float, tokens: int = 3, dim: int = 2, **options: Any) -> list[Any]:
    """One conditioning entry: a [1, tokens, dim] tensor filled with ``value``, and its options."""
    return [torch.full((1, tokens, dim), value), options]


def test_combine_concatenates_the_lists() -> None:
    a, b = [cond(1.0)], [cond(2.0), cond(3.0)]
    combined = conditioning_combine(a, b)
    assert combined == a + b and len(a) == 1 and len(b) == 2


def test_average_lerps_tensors_and_pooled_outputs() -> None:
    to = [cond(1.0, pooled_output=torch.full((1, 4), 1.0), area=(8, 8, 0, 0))]
    from_ = [cond(3.0, pooled_output=torch.full((1, 4), 3.0))]
    out = conditioning_average(to, from_, 0.25)
    assert torch.equal(out[0][0], torch.full((1, 3, 2), 2.5))  # 1 * 0.25 + 3 * 0.75
    assert torch.equal(out[0][1]["pooled_output"], torch.full((1, 4), 2.5))
    assert out[0][1]["area"] == (8, 8, 0, 0)
    assert torch.equal(to[0][1]["pooled_output"], torch.full((1, 4), 1.0)) and torch.equal(to[0][0], torch.ones(1, 3, 2))


def test_average_pads_or_cuts_the_tokens_of_from() -> None:
    short_from = [cond(4.0, tokens=2)]
    out = conditioning_average([cond(2.0, tokens=3)], short_from, 0.5)
    assert torch.equal(out[0][0], torch.tensor([[[3.0, 3.0], [3.0, 3.0], [1.0, 1.0]]]))  # padded with zeros
    long_from = [cond(4.0, tokens=5)]
    assert out[0][0].shape == conditioning_average([cond(2.0, tokens=3)], long_from, 0.5)[0][0].shape == (1, 3, 2)


def test_average_takes_the_pooled_output_of_from_when_to_has_none(caplog: pytest.LogCaptureFixture) -> None:
    pooled = torch.full((1, 4), 5.0)
    with caplog.at_level(logging.WARNING):
        out = conditioning_average([cond(0.0)], [cond(1.0, pooled_output=pooled), cond(9.0)], 0.5)
    assert torch.equal(out[0][1]["pooled_output"], pooled * 0.5 + pooled * 0.5)
    assert "only the first is used" in caplog.text
    assert "pooled_output" not in conditioning_average([cond(0.0)], [cond(1.0)], 0.5)[0][1]


def test_concat_appends_tokens() -> None:
    to = [cond(1.0, tokens=2, strength=0.5), cond(2.0, tokens=1)]
    out = conditioning_concat(to, [cond(7.0, tokens=3)])
    assert out[0][0].shape == (1, 5, 2) and out[1][0].shape == (1, 4, 2)
    assert torch.equal(out[0][0][0, :, 0], torch.tensor([1.0, 1.0, 7.0, 7.0, 7.0]))
    assert out[0][1] == {"strength": 0.5} and out[0][1] is not to[0][1]


def test_set_area_stores_latent_units() -> None:
    source = [cond(1.0, strength=2.0, keep="me")]
    out = conditioning_set_area(source, width=200, height=96, x=17, y=64, strength=0.5)
    assert out[0][1] == {"area": (12, 25, 8, 2), "strength": 0.5, "set_area_to_bounds": False, "keep": "me"}
    assert out[0][0] is source[0][0] and source[0][1] == {"strength": 2.0, "keep": "me"}


def test_set_timestep_range() -> None:
    source = [cond(1.0), cond(2.0, start_percent=0.9)]
    out = conditioning_set_timestep_range(source, start=0.2, end=0.8)
    assert [entry[1] for entry in out] == [{"start_percent": 0.2, "end_percent": 0.8}] * 2
    assert source[0][1] == {} and source[1][1] == {"start_percent": 0.9}


def test_zero_out() -> None:
    source = [cond(3.0, pooled_output=torch.ones(1, 4), area=(1, 1, 0, 0))]
    out = conditioning_zero_out(source)
    assert torch.equal(out[0][0], torch.zeros(1, 3, 2)) and torch.equal(out[0][1]["pooled_output"], torch.zeros(1, 4))
    assert out[0][1]["area"] == (1, 1, 0, 0)
    assert torch.equal(source[0][0], torch.full((1, 3, 2), 3.0)) and torch.equal(source[0][1]["pooled_output"], torch.ones(1, 4))
    assert "pooled_output" not in conditioning_zero_out([cond(1.0)])[0][1]
