"""WeakStatSeg's losses, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scorekit.weakstat.losses import (
    confidence_loss,
    reconstruction_loss,
    statistics_loss,
    weak_mask_loss,
)


# -- losses ------------------------------------------------------------------------------------
def test_confidence_loss_is_a_quarter_when_undecided_and_zero_when_decided():
    assert float(confidence_loss(torch.full((2, 1, 4, 4), 0.5))) == pytest.approx(0.25)
    decided = torch.zeros(2, 1, 4, 4)
    decided[:, :, :2] = 1
    assert float(confidence_loss(decided)) == pytest.approx(0.0)



def test_reconstruction_loss_is_the_mean_absolute_error():
    image = torch.zeros(1, 1, 2, 2)
    assert float(reconstruction_loss(image, image + 0.3)) == pytest.approx(0.3)



def test_weak_mask_loss_pulls_only_marked_pixels_and_stays_finite():
    m_p = torch.tensor([[[[0.0, 1.0], [0.2, 0.9]]]], requires_grad=True)
    unmarked = weak_mask_loss(m_p, torch.zeros_like(m_p))
    assert unmarked.item() == pytest.approx(0.0, abs=1e-6)  # no negative signal
    m_w = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    loss = weak_mask_loss(m_p, m_w)
    # −log(0 → eps) and −log(1) on the two marked pixels, nothing elsewhere; mean over them.
    assert loss.item() == pytest.approx(-np.log(1e-6) / 2, rel=1e-3)
    loss.backward()
    assert torch.isfinite(m_p.grad).all()
    assert m_p.grad[0, 0, 1].abs().sum() == 0  # unmarked pixels get no gradient



def test_statistics_loss_compares_the_fraction_with_the_mean_prediction():
    m_p = torch.zeros(2, 1, 10, 10)
    m_p[0, :, :5] = 1  # 50 %
    fraction = torch.tensor([0.2, 0.1])
    assert float(statistics_loss(m_p, fraction)) == pytest.approx((0.3 + 0.1) / 2)
