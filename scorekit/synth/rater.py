"""A simulated rater: the light feedback a clinician would give, computed from a reference.

For a region with reference mask R and initial mask S:

* missed = |R \\ S| / |R| and extra = |S \\ R| / |R| (fractions of the true volume);
* error label l: ``both`` if missed and extra both exceed ``tolerance`` (default 1 %),
  else ``under`` if missed does, ``over`` if extra does, else ``none``;
* quality q: 5 when l is none; otherwise from the Dice of S against R,
  q = 4 (Dice ≥ 0.97), 3 (≥ 0.93), 2 (≥ 0.88), 1 (≥ 0.80), 0 below —
  so q = 5 ⇔ l = none holds by construction.
"""

from __future__ import annotations

import numpy as np

from scorekit.data.ratings import BOTH, NONE, OVER, QUALITY_MAX, UNDER, Rating
from scorekit.metrics import dice

DICE_TO_QUALITY = ((0.97, 4), (0.93, 3), (0.88, 2), (0.80, 1))


def simulated_rating(case: str, region: str, reference: np.ndarray, initial: np.ndarray,
                     tolerance: float = 0.01, rater: str = "simulated") -> Rating:
    true_volume = max(int(reference.sum()), 1)
    missed = np.count_nonzero(reference & ~initial) / true_volume
    extra = np.count_nonzero(initial & ~reference) / true_volume
    if missed > tolerance and extra > tolerance:
        error = BOTH
    elif missed > tolerance:
        error = UNDER
    elif extra > tolerance:
        error = OVER
    else:
        return Rating(case, region, QUALITY_MAX, NONE, rater=rater)
    overlap = dice(initial, reference)
    quality = next((q for threshold, q in DICE_TO_QUALITY if overlap >= threshold), 0)
    return Rating(case, region, quality, error, rater=rater)
