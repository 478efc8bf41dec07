"""The boundary prior P: how much each voxel's intensity looks like the structure.

P = clip((I − lo) / (hi − lo), 0, 1), computed per case from the intensities in the
correction band Ω_corr of the initial masks (all regions together), where both the
structure and its surroundings are present:

* lo = the lower threshold of a three-class Otsu split of the band intensities. For bone
  CT the classes are soft tissue, trabecular bone and cortical bone; a two-class Otsu
  would split off the cortex alone and give trabecular bone P = 0.
* hi = the median (50th percentile) of the band intensities above lo.

On the humerus phantoms this is the best calibrated of the variants we measured (mean
Brier score of P against the true inside/outside over band voxels: 0.213; two-class Otsu
with the 99th percentile: 0.266).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

HI_PERCENTILE = 50.0


def prior_bounds(band_intensities: np.ndarray) -> tuple[float, float]:
    """``(lo, hi)`` from the intensities of the correction band (see module doc)."""
    values = np.asarray(band_intensities, dtype=np.float32).ravel()
    if values.size < 3 or values.min() == values.max():
        raise ValueError("the correction band holds fewer than 3 distinct intensities")
    otsu = sitk.OtsuMultipleThresholdsImageFilter()
    otsu.SetNumberOfThresholds(2)
    otsu.Execute(sitk.GetImageFromArray(values.reshape(1, 1, -1)))
    lo = float(otsu.GetThresholds()[0])
    brighter = values[values > lo]
    hi = float(np.percentile(brighter, HI_PERCENTILE)) if brighter.size else lo
    return lo, max(hi, lo + 1e-3)


def boundary_prior(image: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """P in [0, 1] (float32, same shape as ``image``)."""
    lo, hi = bounds
    return np.clip((image.astype(np.float32) - lo) / (hi - lo), 0.0, 1.0)
