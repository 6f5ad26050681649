"""The manager on a real CUDA device: streaming matches full loading and allocations stay within the budget.

Skipped without CUDA (run them on a machine with a GPU: ``pytest -m gpu tests/memory``).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from nodes.memory import Budgets, ModelManager, MoveSpy, TorchMover
from nodes.runtime import Runtime
from tests.diffusion.conftest import load
from tests.resources.tiny_models import tiny_unet

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _manager(device_bytes: int) -> tuple[ModelManager, MoveSpy]:
    spy = MoveSpy(TorchMover("cuda", "cpu"))
    return ModelManager(mover=spy, budgets=Budgets("normalvram", device_bytes, device_bytes, 1 << 40, 0)), spy


def _unet_output(unet: torch.nn.Module) -> torch.Tensor:
    x = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(0)).cuda()
    cond = torch.randn(2, 77, 32, generator=torch.Generator().manual_seed(1)).cuda()
    with torch.no_grad():
        return unet(x, 500, encoder_hidden_states=cond).sample.cpu()


def test_a_streamed_unet_on_cuda_matches_the_fully_loaded_one_and_stays_in_budget() -> None:
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    unet = tiny_unet("sd1").eval()
    size = sum(t.nbytes for t in (*unet.parameters(), *unet.buffers()))
    full_manager, _ = _manager(1 << 34)
    entry = full_manager.register([unet], name="unet")
    with full_manager.use(entry):
        expected = _unet_output(unet)
    full_manager.unload_all()
    assert all(p.device.type == "cpu" for p in unet.parameters())

    budget = int(size * 0.4)
    manager, spy = _manager(budget)
    entry = manager.register([unet], name="unet")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    with manager.use(entry):
        assert entry.state == "partial"
        weights_peak = torch.cuda.memory_allocated() - base
        out = _unet_output(unet)
    assert torch.allclose(out, expected, atol=1e-5, rtol=0)
    assert weights_peak <= budget and manager.peak <= budget and spy.bytes("in") > size
    manager.unload_all()
    torch.cuda.synchronize()
    assert torch.cuda.memory_allocated() == base  # everything given back


def test_txt2img_on_cuda_under_a_small_budget(make_runtime: Callable[..., Runtime]) -> None:
    from tests.memory.test_nodes import sampled

    rt = make_runtime(cache="none", vram_budget_gb=8 / 1024)  # 8 MiB: the three models do not fit together
    load(rt, "sd1.safetensors")
    image = sampled(rt, decode=True)
    assert image.shape == (1, 64, 64, 3) and rt.models.compute_device.type == "cuda"
    assert 0 < rt.models.peak <= rt.models.budgets.device
    assert rt.models.stats.evictions > 0
