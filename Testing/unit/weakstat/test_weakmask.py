"""Weak masks made from references."""

from __future__ import annotations

import numpy as np
import pytest

from scorekit.weakstat.weakmask import weak_mask_from_reference


# -- weak masks ---------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(60, 80), (20, 30, 40)])
@pytest.mark.parametrize("size", [0.04, 0.08, 0.12])
def test_weak_masks_are_the_innermost_share_of_the_roi(shape, size):
    from scipy import ndimage

    grid = np.indices(shape)
    centre = np.array(shape)[:, None, None] if len(shape) == 2 else \
        np.array(shape)[:, None, None, None]
    roi = (((grid - centre / 2) / (np.array(shape) / 3).reshape(centre.shape)) ** 2).sum(0) < 1
    weak = weak_mask_from_reference(roi, size)
    assert weak.sum() == round(size * roi.sum())
    assert not (weak & ~roi).any()
    depth = ndimage.distance_transform_edt(roi)
    assert depth[weak].min() >= depth[roi & ~weak].max()



def test_an_empty_reference_has_no_weak_mask():
    with pytest.raises(ValueError, match="empty"):
        weak_mask_from_reference(np.zeros((5, 5), bool), 0.08)
