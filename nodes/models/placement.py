"""Where models run and in which dtype, from the runtime settings (``device``, ``precision``).

=============  ===================================  ==========================================
precision      UNet and text encoders               VAE
=============  ===================================  ==========================================
``auto``       fp32 on CPU, fp16 on CUDA and MPS    fp32 on CPU; bf16 on CUDA when supported,
                                                    else fp32
``fp32``       fp32                                 fp32
``bf16``       bf16                                 bf16
``fp16``       fp16                                 bf16 when supported, else fp32 (SD VAEs
                                                    overflow in fp16)
=============  ===================================  ==========================================

``device = "auto"`` picks CUDA, then MPS, then the CPU; any other value is a torch device string.  Where
the weights *are* at a given moment is the model manager's business (:mod:`nodes.memory`): loaders put
them on its offload device in these dtypes and it moves them to this device when they are used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Placement:
    """The compute device and dtypes of loaded models."""

    device: torch.device
    dtype: torch.dtype
    vae_dtype: torch.dtype

    @property
    def key(self) -> str:
        """A short string for cache keys."""
        return f"{self.device}/{self.dtype}/{self.vae_dtype}"


def resolve_placement(device: str = "auto", precision: str = "auto") -> Placement:
    """The :class:`Placement` for these settings (see the module docstring).

    Raises:
        ValueError: an unknown precision, or a device string torch does not accept.
    """
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"settings.precision must be one of {list(PRECISIONS)}, not {precision!r}")
    if device == "auto":
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    try:
        target = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"settings.device {device!r} is not a torch device ('auto', 'cpu', 'cuda:0' ...)") from exc
    bf16_ok = target.type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    safe_vae = torch.bfloat16 if bf16_ok else torch.float32
    if precision == "fp32" or (precision == "auto" and target.type == "cpu"):
        return Placement(target, torch.float32, torch.float32)
    if precision == "bf16":
        return Placement(target, torch.bfloat16, torch.bfloat16)
    return Placement(target, torch.float16, safe_vae)  # fp16, or auto on an accelerator


def runtime_placement(services: Any = None) -> Placement:
    """The placement from ``services.settings`` (the running node's runtime); defaults when there is none.

    With a model manager (``services.services["models"]``) the compute device is the manager's, so the
    dtypes follow the device the models will run on (``--cpu`` gives fp32 whatever the machine has).
    """
    from nodes.memory import model_manager

    if services is None:
        from graph.context import runtime

        services = runtime()
    settings = getattr(services, "settings", None)
    manager = model_manager(services)
    device = str(manager.compute_device) if manager is not None else getattr(settings, "device", "auto")
    return resolve_placement(device, getattr(settings, "precision", "auto"))
