"""Weak masks: a few confidently marked ROI pixels, made from a reference mask.

Eroding a mask step by step toward its centre keeps the pixels farthest from its border;
so the weak mask holding a fraction ``f`` of the ROI is the ``f`` share of ROI pixels with
the largest Euclidean distance to the background (ties broken by scan order, so the size
is exact). 2D and 3D alike.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def weak_mask_from_reference(mask: np.ndarray, fraction: float,
                             spacing: tuple[float, ...] | None = None) -> np.ndarray:
    """Boolean mask of ``round(fraction × ROI size)`` (at least 1) innermost ROI pixels."""
    if not 0 < fraction <= 1:
        raise ValueError(f"weak-mask size {fraction} is not in (0, 1]")
    mask = np.asarray(mask, bool)
    if not mask.any():
        raise ValueError("the reference mask is empty")
    distance = ndimage.distance_transform_edt(np.pad(mask, 1), sampling=spacing)
    distance = distance[tuple(slice(1, -1) for _ in mask.shape)]
    keep = max(1, round(fraction * mask.sum()))
    order = np.argsort(-distance, axis=None, kind="stable")[:keep]
    weak = np.zeros(mask.size, bool)
    weak[order] = True
    return weak.reshape(mask.shape)
