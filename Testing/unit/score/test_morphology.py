"""GPU-ready morphology must equal scipy.ndimage on the same masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from scorekit.score.morphology import ball, band, dilate, erode, varying_dilate, varying_erode


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    return ndimage.gaussian_filter(rng.standard_normal((30, 34, 38)), 2.5) > 0.05


@pytest.mark.parametrize(("radius", "spacing"), [
    (1, (1.0, 1.0, 1.0)), (2, (1.0, 1.0, 1.0)), (2.5, (1.0, 1.0, 1.0)),
    (3.0, (2.0, 0.8, 0.8)), (4, (3.0, 1.0, 1.0)),
])
def test_erosion_and_dilation_equal_scipy(blobs, radius, spacing):
    structure = ball(radius, spacing)
    mask = torch.from_numpy(blobs)
    assert np.array_equal(dilate(mask, radius, spacing).numpy(),
                          ndimage.binary_dilation(blobs, structure))
    assert np.array_equal(erode(mask, radius, spacing).numpy(),
                          ndimage.binary_erosion(blobs, structure, border_value=0))


def test_band_is_dilation_minus_erosion_and_batches_work(blobs):
    masks = torch.from_numpy(np.stack([blobs, ~blobs]))[None]  # (1, 2, Z, Y, X)
    out = band(masks, 2)
    assert out.shape == masks.shape
    for k, m in enumerate((blobs, ~blobs)):
        expected = ndimage.binary_dilation(m, ball(2)) & ~ndimage.binary_erosion(
            m, ball(2), border_value=0)
        assert np.array_equal(out[0, k].numpy(), expected)


def test_spatially_varying_radius_uses_each_voxels_own_radius(blobs):
    radius = np.zeros(blobs.shape, np.float32)
    radius[:, :, 19:] = 2  # dilate by 2 on the right half, leave the left half alone
    grown = varying_dilate(torch.from_numpy(blobs), torch.from_numpy(radius)).numpy()
    expected = blobs.copy()
    expected[:, :, 19:] = ndimage.binary_dilation(blobs, ball(2))[:, :, 19:]
    assert np.array_equal(grown, expected)
    shrunk = varying_erode(torch.from_numpy(blobs), torch.from_numpy(radius)).numpy()
    assert np.array_equal(shrunk[:, :, :19], blobs[:, :, :19])
    assert shrunk[:, :, 19:].sum() < blobs[:, :, 19:].sum()
