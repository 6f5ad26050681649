"""LatentUpscaleBy: resize latents by a factor ("Upscale Latent By").

The new latent size is ``round(size * scale_by)`` per side (at least 1), without cropping; the methods,
``bislerp`` included, are LatentUpscale's, and other keys of the latent dict are kept. The resize helpers
are copies of LatentUpscale's (habit 4: a node file imports only ``nodes.api``); a test keeps them
identical.
"""

from typing import Annotated, Any, Literal

from nodes.api import Latent, Range, node

# Copied from nodes.builtin.latent.latent_upscale.UpscaleMethod
UpscaleMethod = Literal["nearest-exact", "bilinear", "area", "bicubic", "bislerp"]


# Copied from nodes.builtin.latent.latent_upscale.slerp
def slerp(a: Any, b: Any, t: Any) -> Any:
    """Spherical linear interpolation of vectors ``a``, ``b`` [..., C] at ``t`` [..., 1] (Shoemake 1985),
    with the length interpolated linearly; (nearly) parallel, opposite or zero vectors are lerped."""
    import torch

    norm_a, norm_b = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    unit_a = a / torch.where(norm_a == 0, 1.0, norm_a)
    unit_b = b / torch.where(norm_b == 0, 1.0, norm_b)
    dot = (unit_a * unit_b).sum(dim=-1, keepdim=True).clamp(-1.0, 1.0)
    degenerate = (dot > 1 - 1e-5) | (dot < -1 + 1e-5) | (norm_a == 0) | (norm_b == 0)
    omega = torch.acos(dot)
    sin_omega = torch.where(degenerate, 1.0, torch.sin(omega))
    direction = (torch.sin((1 - t) * omega) * unit_a + torch.sin(t * omega) * unit_b) / sin_omega
    spherical = direction * ((1 - t) * norm_a + t * norm_b)
    return torch.where(degenerate, (1 - t) * a + t * b, spherical)


# Copied from nodes.builtin.latent.latent_upscale.axis_weights
def axis_weights(old: int, new: int, device: Any) -> tuple[Any, Any, Any]:
    """Neighbour indices ``(i0, i1)`` and weights ``t`` [new] to resize an axis of ``old`` samples to ``new``,
    with bilinear's half-pixel centres (``align_corners=False``), clamped at the edges."""
    import torch

    position = ((torch.arange(new, dtype=torch.float64, device=device) + 0.5) * (old / new) - 0.5).clamp(0, old - 1)
    i0 = position.floor().long()
    i1 = (i0 + 1).clamp(max=old - 1)
    return i0, i1, (position - i0).float()


# Copied from nodes.builtin.latent.latent_upscale.bislerp
def bislerp(samples: Any, width: int, height: int) -> Any:
    """Resize ``samples`` [N, C, H, W] to ``height`` x ``width``: bilinear, with :func:`slerp` over the
    channel vectors in place of the weighted average (first along the width, then along the height)."""
    x = samples.float()
    i0, i1, t = axis_weights(x.shape[-1], width, x.device)
    x = slerp(x[..., i0].movedim(1, -1), x[..., i1].movedim(1, -1), t[:, None]).movedim(-1, 1)
    i0, i1, t = axis_weights(x.shape[-2], height, x.device)
    x = slerp(x[:, :, i0, :].movedim(1, -1), x[:, :, i1, :].movedim(1, -1), t[:, None, None]).movedim(-1, 1)
    return x.to(samples.dtype)


# Copied from nodes.builtin.latent.latent_upscale.center_crop
def center_crop(samples: Any, width: int, height: int) -> Any:
    """The centred region of ``samples`` [..., H, W] whose aspect ratio is ``width / height``."""
    old_height, old_width = samples.shape[-2], samples.shape[-1]
    old_aspect, new_aspect = old_width / old_height, width / height
    x = y = 0
    if old_aspect > new_aspect:  # too wide: trim the sides
        x = round((old_width - old_width * new_aspect / old_aspect) / 2)
    elif old_aspect < new_aspect:  # too tall: trim top and bottom
        y = round((old_height - old_height * old_aspect / new_aspect) / 2)
    return samples[..., y : old_height - y, x : old_width - x]


# Copied from nodes.builtin.latent.latent_upscale.upscale
def upscale(samples: Any, width: int, height: int, method: str, crop: str) -> Any:
    """Resize ``samples`` [N, C, H, W] to ``height`` x ``width`` (ComfyUI's ``common_upscale`` for latents)."""
    import torch

    if crop == "center":
        samples = center_crop(samples, width, height)
    if method == "bislerp":
        return bislerp(samples, width, height)
    return torch.nn.functional.interpolate(samples, size=(height, width), mode=method)


@node("LatentUpscaleBy", display_name="Upscale Latent By", category="latent")
def latent_upscale_by(
    samples: Latent,
    upscale_method: UpscaleMethod = "nearest-exact",
    scale_by: Annotated[float, Range(0.01, 8.0, step=0.01)] = 1.5,
) -> Latent:
    """Resize latents by a factor (width and height times scale_by, rounded)."""
    latent = samples["samples"]
    width = max(1, round(latent.shape[-1] * scale_by))
    height = max(1, round(latent.shape[-2] * scale_by))
    return {**samples, "samples": upscale(latent, width, height, upscale_method, "disabled")}


LATENTLOOM_NODES = [latent_upscale_by]
