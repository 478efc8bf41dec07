"""Score-guided augmentation: morphology in the rated direction, flips, affine warps."""

from __future__ import annotations

import numpy as np
import torch

from scorekit.data.ratings import BOTH, NONE, OVER, UNDER
from scorekit.score import augment


def ball_sample(errors, qualities):
    z, y, x = torch.meshgrid(*[torch.arange(40)] * 3, indexing="ij")
    ball = ((z - 20) ** 2 + (y - 20) ** 2 + (x - 20) ** 2) <= 12**2
    k = len(errors)
    return augment.Sample(torch.zeros(1, 40, 40, 40), ball.expand(k, -1, -1, -1).clone(),
                          torch.zeros(1, 40, 40, 40), torch.tensor(qualities),
                          torch.tensor(errors))



def test_morphological_augmentation_moves_masks_the_rated_way_and_lowers_quality():
    before = ball_sample([UNDER, OVER, BOTH, NONE], [3, 3, 2, 5])
    seen_change = False
    for seed in range(12):
        after = augment.morphological_augment(before, torch.Generator().manual_seed(seed),
                                              probability=1.0)
        for k, label in enumerate(before.error.tolist()):
            old, new = before.initial[k], after.initial[k]
            if torch.equal(old, new):
                assert after.quality[k] == before.quality[k]
                continue
            seen_change = True
            if label == UNDER:
                assert not (new & ~old).any()  # only eroded
            if label == OVER:
                assert not (old & ~new).any()  # only dilated
            assert after.quality[k] < before.quality[k]
            q, l_ = int(after.quality[k]), int(after.error[k])
            assert (q == 5) == (l_ == NONE)  # the rating stays valid
            if label == NONE:
                assert l_ == (OVER if (new & ~old).any() else UNDER)
    assert seen_change



def test_quality_drop_follows_the_relative_volume_change():
    before = ball_sample([UNDER], [4])
    after = augment.morphological_augment(before, torch.Generator().manual_seed(3),
                                          probability=1.0)
    change = float((after.initial[0] ^ before.initial[0]).sum() / before.initial[0].sum())
    expected = max(0, 4 - int(np.ceil(change / augment.QUALITY_STEP)))
    assert int(after.quality[0]) == expected



def test_left_right_flip_swaps_lateral_regions():
    regions = ["humerus_left", "humerus_right", "spine"]
    assert augment.lateral_swap(regions) == [1, 0, 2]
    sample = ball_sample([UNDER, OVER, NONE], [1, 2, 5])
    sample = augment.Sample(sample.image, sample.initial.clone(), sample.prior,
                            sample.quality, sample.error)
    sample.initial[0, :, :, :20] = False  # left region only in the high-x half
    flipped = augment.flip_left_right(sample, augment.lateral_swap(regions))
    assert flipped.quality.tolist() == [2, 1, 5] and flipped.error.tolist() == [OVER, UNDER, NONE]
    assert torch.equal(flipped.initial[1], torch.flip(sample.initial[0], dims=(-1,)))



def test_affine_keeps_masks_binary_and_roughly_the_same_size():
    sample = ball_sample([UNDER], [3])
    moved = augment.random_affine(sample, torch.Generator().manual_seed(1))
    assert moved.initial.dtype == torch.bool
    ratio = float(moved.initial.sum() / sample.initial.sum())
    assert 0.65 < ratio < 1.45
