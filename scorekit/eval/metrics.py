"""Overlap metrics on boolean masks.

Empty masks: Dice of two empty masks is 1 (nothing to find, nothing found); Dice of an
empty against a non-empty mask is 0.
"""

from __future__ import annotations

import numpy as np


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Sørensen–Dice coefficient 2|A∩B| / (|A|+|B|) of two boolean masks."""
    total = int(np.count_nonzero(a)) + int(np.count_nonzero(b))
    if total == 0:
        return 1.0
    return 2.0 * np.count_nonzero(a & b) / total
