"""LatentUpscale: resize latents to an image size in pixels ("Upscale Latent").

``width`` and ``height`` are pixel sizes (the latent becomes ``height // 8`` x ``width // 8``); a side of 0
keeps the aspect ratio from the other, both 0 pass the latent unchanged, and each side is at least 64
pixels, as in ComfyUI. Methods are ``torch.nn.functional.interpolate`` modes plus ``bislerp``, written
here: a separable bilinear resize whose interpolation between two neighbouring latent vectors (over the
channels) is spherical for the direction and linear for the length, which keeps latent magnitudes where
bilinear averaging would shrink them. Other keys of the latent dict (``noise_mask``, ``batch_index``) are
kept as they are.
"""

from typing import Annotated, Any, Literal

from nodes.api import Latent, Range, node

MAX_RESOLUTION = 16384

UpscaleMethod = Literal["nearest-exact", "bilinear", "area", "bicubic", "bislerp"]


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


def axis_weights(old: int, new: int, device: Any) -> tuple[Any, Any, Any]:
    """Neighbour indices ``(i0, i1)`` and weights ``t`` [new] to resize an axis of ``old`` samples to ``new``,
    with bilinear's half-pixel centres (``align_corners=False``), clamped at the edges."""
    import torch

    position = ((torch.arange(new, dtype=torch.float64, device=device) + 0.5) * (old / new) - 0.5).clamp(0, old - 1)
    i0 = position.floor().long()
    i1 = (i0 + 1).clamp(max=old - 1)
    return i0, i1, (position - i0).float()


def bislerp(samples: Any, width: int, height: int) -> Any:
    """Resize ``samples`` [N, C, H, W] to ``height`` x ``width``: bilinear, with :func:`slerp` over the
    channel vectors in place of the weighted average (first along the width, then along the height)."""
    x = samples.float()
    i0, i1, t = axis_weights(x.shape[-1], width, x.device)
    x = slerp(x[..., i0].movedim(1, -1), x[..., i1].movedim(1, -1), t[:, None]).movedim(-1, 1)
    i0, i1, t = axis_weights(x.shape[-2], height, x.device)
    x = slerp(x[:, :, i0, :].movedim(1, -1), x[:, :, i1, :].movedim(1, -1), t[:, None, None]).movedim(-1, 1)
    return x.to(samples.dtype)


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


def upscale(samples: Any, width: int, height: int, method: str, crop: str) -> Any:
    """Resize ``samples`` [N, C, H, W] to ``height`` x ``width`` (ComfyUI's ``common_upscale`` for latents)."""
    import torch

    if crop == "center":
        samples = center_crop(samples, width, height)
    if method == "bislerp":
        return bislerp(samples, width, height)
    return torch.nn.functional.interpolate(samples, size=(height, width), mode=method)


@node("LatentUpscale", display_name="Upscale Latent", category="latent")
def latent_upscale(
    samples: Latent,
    upscale_method: UpscaleMethod = "nearest-exact",
    width: Annotated[int, Range(0, MAX_RESOLUTION, step=8)] = 512,
    height: Annotated[int, Range(0, MAX_RESOLUTION, step=8)] = 512,
    crop: Literal["disabled", "center"] = "disabled",
) -> Latent:
    """Resize latents to an image size in pixels; 0 keeps the aspect ratio, crop=center avoids stretching."""
    if width == 0 and height == 0:
        return samples
    latent = samples["samples"]
    if width == 0:
        height = max(64, height)
        width = max(64, round(latent.shape[-1] * height / latent.shape[-2]))
    elif height == 0:
        width = max(64, width)
        height = max(64, round(latent.shape[-2] * width / latent.shape[-1]))
    else:
        width, height = max(64, width), max(64, height)
    return {**samples, "samples": upscale(latent, width // 8, height // 8, upscale_method, crop)}


LATENTLOOM_NODES = [latent_upscale]
