"""Memory modes to byte budgets (pure), settings to the runtime's manager, and no torch import to build one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nodes.memory.config import GIB, MIB, MemoryOptions, default_ram_budget, plan_budgets
from nodes.runtime import Settings, build_runtime

CARD, RAM = 8 * GIB, 32 * GIB


def plan(mode: str = "normalvram", **options: float) -> object:
    return plan_budgets(MemoryOptions(mode, **options), device_type="cuda", device_total=CARD, ram_total=RAM,
                        platform="linux")


@pytest.mark.parametrize(
    ("mode", "weights_share", "ram_copy", "clip_on_cpu"),
    [("gpu_only", 1.0, False, False), ("highvram", 1.0, False, False), ("normalvram", 1.0, True, False),
     ("lowvram", 0.5, True, True), ("novram", 0.0, True, True)],
)
def test_each_mode_maps_to_budgets(mode: str, weights_share: float, ram_copy: bool, clip_on_cpu: bool) -> None:
    budgets = plan(mode)
    assert budgets.mode == mode and budgets.reserve == 400 * MIB and budgets.device == CARD - 400 * MIB
    assert budgets.weights == int(budgets.device * weights_share)
    assert (budgets.keep_ram_copy, budgets.text_encoders_on_offload) == (ram_copy, clip_on_cpu)
    assert budgets.eager == (mode == "gpu_only") and budgets.ram == RAM // 2 - 2 * GIB


def test_reserve_defaults_follow_comfyui_and_flags_override_everything() -> None:
    big = plan_budgets(MemoryOptions(), device_type="cuda", device_total=24 * GIB, ram_total=RAM, platform="win32")
    assert big.reserve == 700 * MIB and big.device == 24 * GIB - 700 * MIB
    assert plan(reserve_vram_gb=1.5).device == CARD - int(1.5 * GIB)
    explicit = plan(vram_budget_gb=3, ram_budget_gb=6, reserve_vram_gb=1)
    assert (explicit.device, explicit.ram) == (3 * GIB, 6 * GIB)


def test_cpu_mode_and_a_cpu_device_keep_accounts_in_ram() -> None:
    assert plan("cpu").mode == "cpu" and plan("cpu").device == RAM // 2 - 2 * GIB
    on_cpu = plan_budgets(MemoryOptions("lowvram"), device_type="cpu", device_total=RAM, ram_total=RAM)
    assert on_cpu.mode == "cpu" and on_cpu.reserve == 0 and on_cpu.weights == on_cpu.device


def test_default_ram_budget_is_half_minus_two_at_least_four() -> None:
    assert default_ram_budget(32 * GIB) == 14 * GIB
    assert default_ram_budget(8 * GIB) == 4 * GIB and default_ram_budget(3 * GIB) == 3 * GIB


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="vram_mode must be one of"):
        MemoryOptions("turbo")
    with pytest.raises(ValueError, match="vram_budget_gb"):
        MemoryOptions(vram_budget_gb=-1)


def test_build_runtime_hands_the_settings_to_one_manager_per_runtime(tmp_path: Path) -> None:
    settings = Settings(base_dir=str(tmp_path), entry_points=False, disable_custom_nodes=True, vram_mode="lowvram",
                        vram_budget_gb=2.0, ram_budget_gb=3.0, reserve_vram_gb=0.5)
    a, b = build_runtime(settings), build_runtime(settings)
    assert a.models is a.services["models"] and a.models is not b.models
    assert a.models.options == MemoryOptions("lowvram", 0.5, 2.0, 3.0)
    assert a.models.budgets.ram == 3 * GIB  # this machine has no GPU: cpu mode, accounts kept in RAM
    assert build_runtime(Settings(base_dir=str(tmp_path), entry_points=False, vram_mode="cpu")).models.compute_device.type == "cpu"


def test_building_a_runtime_and_asking_its_status_imports_no_torch(tmp_path: Path) -> None:
    code = ("import sys; from nodes.runtime import build_runtime, Settings;"
            f"rt = build_runtime(Settings(base_dir={str(tmp_path)!r}, entry_points=False, disable_custom_nodes=True));"
            "s = rt.models.status(); assert 'torch' not in sys.modules, 'torch'; print(s['mode'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).parents[2])
    assert out.stdout.strip() == "normalvram", out.stderr


def test_run_and_serve_take_the_same_memory_flags() -> None:
    from nodes.cli import build_parser
    from nodes.memory.config import memory_settings
    from server.cli import settings_from_args

    flags = ["--lowvram", "--reserve-vram", "0.5", "--vram-budget", "3", "--ram-budget", "6"]
    run_args = build_parser().parse_args(["run", "x.json", *flags])
    serve_args = build_parser().parse_args(["serve", *flags])
    expected = {"vram_mode": "lowvram", "reserve_vram_gb": 0.5, "vram_budget_gb": 3.0, "ram_budget_gb": 6.0}
    assert memory_settings(run_args) == memory_settings(serve_args) == expected
    settings = settings_from_args(serve_args)
    assert (settings.vram_mode, settings.vram_budget_gb, settings.extra["vram_mode"]) == ("lowvram", 3.0, "lowvram")
    cpu = memory_settings(build_parser().parse_args(["run", "x.json", "--cpu"]))
    assert cpu["vram_mode"] == "cpu" and cpu["device"] == "cpu"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "x.json", "--lowvram", "--novram"])


def test_a_manager_plans_its_budgets_from_the_options_on_first_use() -> None:
    from nodes.memory import ModelManager, SimulatedDevice

    manager = ModelManager(MemoryOptions("lowvram", vram_budget_gb=1), mover=SimulatedDevice())
    budgets = manager.budgets
    assert (budgets.mode, budgets.device, budgets.weights) == ("lowvram", GIB, GIB // 2)
    assert budgets.text_encoders_on_offload and manager.runs_on_offload("clip") and not manager.runs_on_offload("unet")
