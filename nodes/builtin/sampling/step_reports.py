"""Per-step progress and previews for the sampling nodes.

The preview method comes from the job (ComfyUI's ``extra_data.preview_method``) or else the server's
setting (``Settings.preview_method``): ``none`` sends no images; ``auto``, ``latent2rgb`` and ``taesd``
(no TAESD decoder ships, so it falls back to the projection) send the latent-to-RGB projection of the
current denoised estimate with each progress event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graph.context import current, progress, runtime

PREVIEW_METHODS = ("none", "auto", "latent2rgb", "taesd")


def preview_method() -> str:
    """The preview method in force for the running job."""
    ctx = current()
    method = ctx.extra.get("preview_method") if ctx is not None else None
    if method in (None, "default"):
        services = runtime()
        method = getattr(getattr(services, "settings", None), "preview_method", "none")
    return method if method in PREVIEW_METHODS else "none"


def step_callback(family: str) -> Callable[[dict[str, Any]], None]:
    """A sampler callback that reports ``i + 1`` of ``total`` and attaches a preview when enabled."""
    with_preview = preview_method() != "none"

    def report(step: dict[str, Any]) -> None:
        image = None
        if with_preview:
            from nodes.sampling import latent_to_rgb_preview

            image = latent_to_rgb_preview(step["denoised"], family)
        progress(step["i"] + 1, step["total"], image)

    return report
