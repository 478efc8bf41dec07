"""Overlap and distance metrics on boolean masks, below every method and front end.

Empty masks: Dice and IoU of two empty masks are 1 (nothing to find, nothing found); of an
empty against a non-empty mask, 0.
"""

from __future__ import annotations

import warnings

import numpy as np


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Sørensen–Dice coefficient 2|A∩B| / (|A|+|B|) of two boolean masks."""
    total = int(np.count_nonzero(a)) + int(np.count_nonzero(b))
    if total == 0:
        return 1.0
    return 2.0 * np.count_nonzero(a & b) / total


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union |A∩B| / |A∪B| of two boolean masks."""
    union = int(np.count_nonzero(np.logical_or(a, b)))
    if union == 0:
        return 1.0
    return np.count_nonzero(np.logical_and(a, b)) / union


def hd95(a: np.ndarray, b: np.ndarray, spacing_zyx) -> float:
    """95th-percentile symmetric Hausdorff distance in millimetres between two masks.

    Uses MONAI's implementation on the surfaces, with the voxel spacing. Two empty masks
    are 0 mm apart; an empty against a non-empty mask gives ``inf``.
    """
    import torch
    from monai.metrics import compute_hausdorff_distance

    a_any, b_any = bool(np.any(a)), bool(np.any(b))
    if not a_any and not b_any:
        return 0.0
    if not (a_any and b_any):
        return float("inf")
    pred = torch.from_numpy(np.ascontiguousarray(a, dtype=bool))[None, None]
    true = torch.from_numpy(np.ascontiguousarray(b, dtype=bool))[None, None]
    with warnings.catch_warnings():  # MONAI warns about its own internal call
        warnings.simplefilter("ignore", FutureWarning)
        distance = compute_hausdorff_distance(pred, true, percentile=95,
                                              spacing=[float(s) for s in spacing_zyx])
    return float(distance.item())
