"""Binary morphology in torch (GPU when the tensors are there), equal to scipy.ndimage.

Masks are boolean or {0, 1} tensors shaped ``(..., Z, Y, X)``; any leading dimensions
(batch, channel) are processed independently. The structuring element is a ball,
``ball(radius, spacing)``: every offset whose physical length is ≤ radius (in voxels with
the default unit spacing, so η = 2 is the paper's two-voxel erosion). Outside the volume
counts as background, as scipy's ``border_value=0``: erosion eats into masks that touch
the border, dilation does not wrap around.

Dilation is a 3D convolution of the mask with the ball (> 0 ⇒ inside), erosion the dual
``~dilate(~mask)``; both are exact, not max-pool approximations of a ball.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F


@functools.lru_cache(maxsize=64)
def ball(radius: float, spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """Boolean ball ``[z, y, x]`` of physical radius ``radius`` (spacing in z, y, x)."""
    half = [int(np.floor(radius / s + 1e-9)) for s in spacing]
    grids = np.meshgrid(*[np.arange(-h, h + 1) * s for h, s in zip(half, spacing)],
                        indexing="ij")
    return sum(g * g for g in grids) <= radius * radius + 1e-9


def _as_5d(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Size]:
    shape = mask.shape
    return mask.reshape(-1, 1, *shape[-3:]), shape


def dilate(mask: torch.Tensor, radius: float, spacing=(1.0, 1.0, 1.0)) -> torch.Tensor:
    """Binary dilation by a ball; returns a bool tensor shaped like ``mask``."""
    if radius <= 0:
        return mask.bool()
    kernel_np = ball(float(radius), tuple(float(s) for s in spacing))
    volume, shape = _as_5d(mask)
    # float16 counts are exact up to 2048 and run fast on GPUs; CPU convolutions want float32.
    dtype = torch.float16 if volume.is_cuda else torch.float32
    kernel = torch.as_tensor(kernel_np, dtype=dtype, device=volume.device)[None, None]
    pad = [k // 2 for k in kernel_np.shape]
    hits = F.conv3d(volume.to(dtype), kernel, padding=pad)
    return (hits > 0.5).reshape(shape)


def erode(mask: torch.Tensor, radius: float, spacing=(1.0, 1.0, 1.0)) -> torch.Tensor:
    """Binary erosion by a ball, outside the volume counting as background."""
    if radius <= 0:
        return mask.bool()
    volume, shape = _as_5d(mask.bool())
    pad = [int(np.floor(radius / s + 1e-9)) for s in spacing]
    # Pad with background so that erosion eats in from the border (scipy border_value=0).
    padded = F.pad(volume, [p for p in reversed(pad) for _ in (0, 1)], value=False)
    inner = ~dilate(~padded, radius, spacing)
    z, y, x = pad
    return inner[..., z:z + shape[-3], y:y + shape[-2], x:x + shape[-1]].reshape(shape)


def band(mask: torch.Tensor, radius: float, spacing=(1.0, 1.0, 1.0)) -> torch.Tensor:
    """Boundary band: dilated minus eroded mask (SCORE's Ω_corr for radius η)."""
    return dilate(mask, radius, spacing) & ~erode(mask, radius, spacing)


def varying_dilate(mask: torch.Tensor, radius: torch.Tensor, spacing=(1.0, 1.0, 1.0)
                   ) -> torch.Tensor:
    """Dilation whose ball radius varies in space: voxel v joins the mask when a mask voxel
    lies within ``radius[v]`` of it. ``radius`` is broadcastable to ``mask`` (voxels by
    default; 0 leaves v as it was)."""
    out = mask.bool().clone()
    for r in range(1, int(np.ceil(float(radius.max()))) + 1):
        out |= dilate(mask, r, spacing) & (radius >= r)
    return out


def varying_erode(mask: torch.Tensor, radius: torch.Tensor, spacing=(1.0, 1.0, 1.0)
                  ) -> torch.Tensor:
    """Erosion whose ball radius varies in space (the dual of :func:`varying_dilate`)."""
    return ~varying_dilate(~mask.bool(), radius, spacing) & mask.bool()

