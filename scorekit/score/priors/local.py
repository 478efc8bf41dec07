"""A level-based boundary prior P (``local``): how much each voxel's intensity says
"inside the structure".

P = clip((I − lo) / (hi − lo), 0, 1) with

* lo, the Otsu-derived lower bound: the mean intensity of the darkest class of a
  three-class Otsu split of the correction band Ω_corr (all regions together; for bone CT
  the classes are soft tissue, trabecular and cortical bone), i.e. the surroundings' level;
* hi, a *local* upper bound: hi = lo + 2·f·(M − lo), where M is the brightest intensity
  within a 5×5×5 neighbourhood and f = 0.3, so that P = 0.5 where a voxel holds 30 % of
  its brightest neighbour's contrast.

Why local: a thin, blurred, very bright cortex and a dim trabecular epiphysis cannot share
one threshold. On the humerus phantoms no global threshold placed in the band does better
than the initial masks (best: mean Dice 0.933 against 0.941), while this local one gives
0.969 (P > 0.5 in Ω_corr, the initial mask elsewhere; ``benchmarks/bench_prior.py``). The
paper's form (Otsu lower bound, global percentile upper bound) is the registered prior
``paper`` (``paper.py``), kept for comparison.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
import torch
import torch.nn.functional as F

from scorekit.score.morphology import band

CONTRAST_FRACTION = 0.3
NEIGHBOURHOOD = 5


def otsu_classes(values: np.ndarray) -> tuple[float, float]:
    """Thresholds of a three-class Otsu split of ``values``."""
    values = np.asarray(values, dtype=np.float32).ravel()
    if values.size < 3 or values.min() == values.max():
        raise ValueError("the correction band holds fewer than 3 distinct intensities")
    otsu = sitk.OtsuMultipleThresholdsImageFilter()
    otsu.SetNumberOfThresholds(2)
    otsu.Execute(sitk.GetImageFromArray(values.reshape(1, 1, -1)))
    low, high = otsu.GetThresholds()
    return float(low), float(high)


def surroundings_level(band_intensities: np.ndarray) -> float:
    """lo: mean of the darkest Otsu class of the band intensities.

    Known weakness (docs/method.md, *Boundary prior P*): a band that reaches air makes air the
    darkest class, and P ≈ 1 over all soft tissue.
    """
    values = np.asarray(band_intensities, dtype=np.float32).ravel()
    low, _ = otsu_classes(values)
    darkest = values[values <= low]
    return float(darkest.mean()) if darkest.size else low


def local_prior(image: torch.Tensor, masks: torch.Tensor, eta: int, spacing_zyx=None
                ) -> tuple[torch.Tensor, float]:
    """The registered prior: P for ``image`` (Z, Y, X, intensity units) and its lo, from the
    intensities in the correction band of all ``masks`` (K, Z, Y, X)."""
    lo = surroundings_level(image.cpu().numpy()[band(masks.any(0), eta).cpu().numpy()])
    return boundary_prior(image, lo), lo


def boundary_prior(image: torch.Tensor, lo: float) -> torch.Tensor:
    """P in [0, 1] for ``image`` (Z, Y, X) in intensity units; float32, same device."""
    image = image.float()
    local_max = F.max_pool3d(image[None, None], NEIGHBOURHOOD, stride=1,
                             padding=NEIGHBOURHOOD // 2)[0, 0]
    span = (2 * CONTRAST_FRACTION * (local_max - lo)).clamp(min=1e-3)
    return ((image - lo) / span).clamp(0.0, 1.0)
