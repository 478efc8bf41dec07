"""The SCORE loss: hand-computed values, gradient directions and the q / l gating."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import ndimage

from scorekit.data.ratings import BOTH, NONE, OVER, UNDER
from scorekit.score.loss import (
    LossWeights,
    region_priors,
    regions_of_interest,
    score_loss,
    whole_case_loss,
)
from scorekit.score.morphology import ball


def cube(shape=(12, 12, 12), low=3, high=9):
    mask = torch.zeros(shape, dtype=torch.bool)
    mask[low:high, low:high, low:high] = True
    return mask


def setup(error, quality, logit=0.0, prior_value=0.5, regions=1):
    initial = torch.stack([cube()] * regions)[None]  # (1, K, Z, Y, X)
    logits = torch.full(initial.shape, logit, requires_grad=True)
    prior = torch.full((1, 1, *initial.shape[-3:]), prior_value)
    q = torch.tensor([[quality] * regions])
    l_ = torch.tensor([[error] * regions])
    return logits, initial, prior, q, l_


def test_terms_match_hand_computed_values():
    # Ŝ = σ(0) = 1/2 everywhere, so every −log term is log 2; P = 0.25, q = 2 → w = 0.6.
    logits, initial, prior, q, l_ = setup(BOTH, 2, prior_value=0.25)
    total, terms = score_loss(logits, initial, prior, q, l_)
    assert terms["stab"].item() == pytest.approx(math.log(2))
    assert terms["plus"].item() == pytest.approx(0.6 * 0.25 * math.log(2))
    assert terms["minus"].item() == pytest.approx(0.6 * 0.75 * math.log(2))
    assert total.item() == pytest.approx(5 * math.log(2) + 0.6 * math.log(2))


def test_one_over_k_averages_over_all_regions_even_inactive_ones():
    logits, initial, prior, q, _ = setup(UNDER, 0, regions=2)
    l_ = torch.tensor([[UNDER, OVER]])
    _, terms = score_loss(logits, initial, prior, q, l_)
    # Only region 0 expands: its mean over Ω_corr is 1 · 0.5 · log 2, divided by K = 2.
    assert terms["plus"].item() == pytest.approx(0.5 * math.log(2) / 2)


def test_stability_region_is_eroded_only_when_there_is_an_error():
    initial = cube()[None, None]
    stab_none, _ = regions_of_interest(initial, torch.tensor([[NONE]]))
    stab_under, corr = regions_of_interest(initial, torch.tensor([[UNDER]]))
    assert stab_none.sum() == 6**3
    assert stab_under.sum() == 2**3  # eroded by η = 2 on each side
    expected = ndimage.binary_dilation(cube().numpy(), ball(2)) & ~cube(low=5, high=7).numpy()
    assert (corr[0, 0].numpy() == expected).all()


def test_holding_the_band_keeps_a_perfect_region_from_growing():
    initial = cube()[None, None]
    grown = torch.where(torch.from_numpy(ndimage.binary_dilation(cube().numpy())), 5.0, -5.0)
    exact = torch.where(cube(), 5.0, -5.0)
    prior = torch.full((1, 1, 12, 12, 12), 0.5)
    q, l_ = torch.tensor([[5]]), torch.tensor([[NONE]])
    for hold, grows_costs in ((False, False), (True, True)):
        weights = LossWeights(hold_band=hold)
        stab, _ = regions_of_interest(initial, l_, hold_band=hold)
        assert stab.sum() == (int(ndimage.binary_dilation(cube().numpy(), ball(2)).sum())
                              if hold else 6**3)
        exact_loss, _ = score_loss(exact[None, None], initial, prior, q, l_, weights)
        grown_loss, _ = score_loss(grown[None, None], initial, prior, q, l_, weights)
        assert (grown_loss.item() > exact_loss.item() + 0.1) == grows_costs
    # a region with an error keeps eq. 1's eroded Ω_stab either way
    stab_under, _ = regions_of_interest(initial, torch.tensor([[UNDER]]), hold_band=True)
    assert stab_under.sum() == 2**3


def test_expansion_loss_ignores_regions_rated_over_segmented():
    for error, expands, shrinks in ((OVER, False, True), (UNDER, True, False),
                                    (BOTH, True, True), (NONE, False, False)):
        quality = 5 if error == NONE else 2
        logits, initial, prior, q, l_ = setup(error, quality)
        _, terms = score_loss(logits, initial, prior, q, l_)
        assert (terms["plus"].item() > 0) == expands, error
        assert (terms["minus"].item() > 0) == shrinks, error


def test_perfect_regions_get_no_correction_weight():
    logits, initial, prior, _, l_ = setup(UNDER, 5)
    _, terms = score_loss(logits, initial, prior, torch.tensor([[5]]), l_)
    assert terms["plus"].item() == 0  # w = (5 − 5)/5


def test_gradients_push_the_way_the_paper_says():
    # L+ raises Ŝ where P is high in the band; L− lowers it where P is low; L_stab holds
    # the interior. A negative gradient on a logit means descent raises it.
    logits, initial, prior, q, l_ = setup(BOTH, 1)
    prior = torch.zeros_like(prior)
    prior[..., :, :, :6] = 1.0  # bright on the left half, dark on the right
    weights = LossWeights(stab=5.0, expand=1.0, shrink=1.0)
    total, _ = score_loss(logits, initial, prior, q, l_, weights)
    total.backward()
    grad = logits.grad[0, 0]
    _, corr = regions_of_interest(initial, l_)
    stab, _ = regions_of_interest(initial, l_)
    band_left = corr[0, 0].clone()
    band_left[..., 6:] = False
    band_right = corr[0, 0].clone()
    band_right[..., :6] = False
    assert (grad[band_left] < 0).all()  # expand where bright
    assert (grad[band_right & ~stab[0, 0]] > 0).all()  # shrink where dark
    assert (grad[stab[0, 0]] < 0).all()  # hold the eroded interior
    outside = ~corr[0, 0] & ~initial[0, 0]
    assert (grad[outside] == 0).all()  # the loss says nothing outside the regions


def test_no_prior_ablation_pushes_with_full_weight():
    logits, initial, prior, q, l_ = setup(BOTH, 0, prior_value=0.0)
    _, with_prior = score_loss(logits, initial, prior, q, l_)
    _, without = score_loss(logits, initial, prior, q, l_, LossWeights(use_prior=False))
    assert with_prior["plus"].item() == 0
    assert without["plus"].item() == pytest.approx(math.log(2))
    assert without["minus"].item() == pytest.approx(math.log(2))


def test_whole_case_loss_equals_the_loss_of_all_regions_at_once():
    torch.manual_seed(0)
    initial = torch.rand(1, 4, 12, 13, 14) > 0.6
    logits = torch.randn(1, 4, 12, 13, 14)
    prior = torch.rand(1, 1, 12, 13, 14)
    quality, error = torch.tensor([[1, 3, 5, 2]]), torch.tensor([[UNDER, OVER, NONE, BOTH]])
    for p in (prior, region_priors(prior, initial, background=False)):
        together, _ = score_loss(logits, initial, p, quality, error)
        assert whole_case_loss(logits, initial, p, quality, error) == pytest.approx(
            float(together), rel=1e-5)


def test_region_priors_drop_voxels_another_region_holds():
    initial = torch.zeros(1, 3, 1, 1, 4, dtype=torch.bool)
    initial[0, 0, 0, 0, :2] = True
    initial[0, 1, 0, 0, 1:3] = True
    p_k = region_priors(torch.full((1, 1, 1, 1, 4), 0.8), initial, background=False)[0, :, 0, 0]
    assert torch.allclose(p_k, torch.tensor([[0.8, 0, 0, 0.8], [0, 0, 0.8, 0.8],
                                             [0, 0, 0, 0.8]]))
