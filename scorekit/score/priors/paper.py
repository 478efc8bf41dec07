"""The SCORE paper's boundary prior (``paper``): one global ramp over the whole crop.

P = clip((I − lo) / (hi − lo), 0, 1) with lo the two-class Otsu threshold of the
intensities in the correction band Ω_corr and hi their 99th percentile: our reading of the
paper's "Otsu lower bound, upper bound from the structure's intensities". Kept so that the
local prior's gain over it stays measurable (``benchmarks/bench_prior.py``).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
import torch

from scorekit.score.morphology import band

UPPER_PERCENTILE = 99.0


def paper_prior(image: torch.Tensor, masks: torch.Tensor, eta: int, spacing_zyx=None
                ) -> tuple[torch.Tensor, float]:
    values = image.cpu().numpy()[band(masks.any(0), eta).cpu().numpy()].astype(np.float32)
    if values.size < 2 or values.min() == values.max():
        raise ValueError("the correction band holds fewer than 2 distinct intensities")
    otsu = sitk.OtsuThresholdImageFilter()
    otsu.Execute(sitk.GetImageFromArray(values.reshape(1, 1, -1)))
    lo = float(otsu.GetThreshold())
    hi = max(float(np.percentile(values, UPPER_PERCENTILE)), lo + 1e-3)
    return ((image.float() - lo) / (hi - lo)).clamp(0.0, 1.0), lo
