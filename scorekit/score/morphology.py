"""Binary morphology in torch (GPU when the tensors are there), equal to scipy.ndimage.

Masks are boolean or {0, 1} tensors shaped ``(..., Z, Y, X)``; any leading dimensions
(batch, channel) are processed independently. The structuring element is a ball,
``ball(radius, spacing)``: every offset whose physical length is ≤ radius (in voxels with
the default unit spacing, so η = 2 is the paper's two-voxel erosion). Outside the volume
counts as background, as scipy's ``border_value=0``: erosion eats into masks that touch
the border, dilation does not wrap around.

A ball is the union of the boxes that fit inside it, so dilation by the ball is the OR of
a few box dilations (radius 2: the 3×3×3 cube and three 5-voxel lines), each separable
into shifted ORs along one axis at a time; erosion is the dual ``~dilate(~mask)``. Both
are exact and run on whatever device the mask is on.
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


@functools.lru_cache(maxsize=64)
def ball_boxes(radius: float, spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
               ) -> list[tuple[int, int, int]]:
    """Half-sizes (z, y, x) of the maximal boxes inside the ball; their union is the ball."""
    inside = np.argwhere(ball(radius, spacing))
    centre = np.array(ball(radius, spacing).shape) // 2
    corners = [tuple(int(v) for v in c) for c in inside - centre if (c >= 0).all()]
    return [c for c in corners
            if not any(o != c and all(oi >= ci for oi, ci in zip(o, c)) for o in corners)]


def _as_5d(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Size]:
    shape = mask.shape
    return mask.reshape(-1, 1, *shape[-3:]), shape


def dilate(mask: torch.Tensor, radius: float, spacing=(1.0, 1.0, 1.0)) -> torch.Tensor:
    """Binary dilation by a ball; returns a bool tensor shaped like ``mask``."""
    mask = mask.bool()
    if radius <= 0:
        return mask
    out = None
    for box in ball_boxes(float(radius), tuple(float(s) for s in spacing)):
        grown = _box_dilate(mask, box)
        out = grown if out is None else out | grown
    return out


def _box_dilate(mask: torch.Tensor, half: tuple[int, int, int]) -> torch.Tensor:
    """Dilation by a (2a+1)×(2b+1)×(2c+1) box: separable, one axis at a time, each a few
    shifted ORs (outside the volume counts as background)."""
    for axis, h in enumerate(half):
        dim = mask.dim() - 3 + axis
        grown = mask.clone()
        for d in range(1, h + 1):
            grown.narrow(dim, d, mask.shape[dim] - d).logical_or_(
                mask.narrow(dim, 0, mask.shape[dim] - d))
            grown.narrow(dim, 0, mask.shape[dim] - d).logical_or_(
                mask.narrow(dim, d, mask.shape[dim] - d))
        mask = grown
    return mask


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

