"""The tensor-aware codec behind the persistent cache."""

from __future__ import annotations

import numpy as np
import torch

from graph.cache import CacheEntry
from nodes.codec import TensorCodec


def test_round_trips_tensors_arrays_and_structures() -> None:
    codec = TensorCodec()
    latent = {"samples": torch.randn(1, 4, 8, 8), "batch_index": [0]}
    cond = [[torch.randn(1, 77, 32), {"pooled_output": torch.randn(1, 32).to(torch.bfloat16)}]]
    entry = CacheEntry(([latent], [cond], [np.arange(6, dtype=np.int16).reshape(2, 3)], [(1, 2)], [torch.empty(0)]), {"text": ["x"]})
    data = codec.encode(entry)
    assert data is not None
    back = codec.decode(data)
    assert torch.equal(back.outputs[0][0]["samples"], latent["samples"])
    assert back.outputs[0][0]["batch_index"] == [0]
    got = back.outputs[1][0][0]
    assert torch.equal(got[0], cond[0][0])
    assert got[1]["pooled_output"].dtype == torch.bfloat16 and torch.equal(got[1]["pooled_output"], cond[0][1]["pooled_output"])
    assert np.array_equal(back.outputs[2][0], entry.outputs[2][0])
    assert back.outputs[3][0] == [1, 2]
    assert back.outputs[4][0].shape == (0,)
    assert back.ui == {"text": ["x"]}


def test_refuses_models() -> None:
    assert TensorCodec().encode(CacheEntry(([torch.nn.Linear(2, 2)],))) is None
