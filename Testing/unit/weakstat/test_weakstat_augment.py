"""Augmentations keep the statistic exact and the masks with their image."""

from __future__ import annotations

import torch

from scorekit.weakstat.augment import augment


def test_zoomed_out_batches_carry_the_roi_fraction_they_show():
    mask = torch.zeros(16, 1, 64, 64)
    weak = torch.zeros_like(mask)
    for i in range(16):
        mask[i, :, 10 + i:30 + i, 12:40 + i] = 1
        weak[i, :, 18 + i:22 + i, 20:24] = 1
    item = {"image": 0.2 + 0.6 * mask, "mask": mask, "weak": weak,
            "outside": 1 - mask, "fraction": mask.flatten(1).mean(1)}
    out = augment(item, torch.Generator().manual_seed(0))
    shown = out["mask"].flatten(1).mean(1)
    assert (out["fraction"] < item["fraction"] - 1e-3).any()  # some were zoomed out
    assert torch.allclose(shown, out["fraction"], atol=0.008)  # a pixel's rim at 64²
    assert (out["weak"] <= out["mask"]).all()
    # the black border is background to the place prior, and the ROI never is
    assert (out["outside"] + out["mask"] >= 0.99).all()
    assert ((out["outside"] * out["mask"]) == 0).all()
    # the lesion stays brighter than its surroundings under any gamma and contrast
    image, lesion = out["image"], out["mask"] > 0
    for b in range(16):
        assert image[b][lesion[b]].mean() > image[b][~lesion[b] & (image[b] > 0)].mean()
