"""The spatial priors beside the paper's losses: smoothness and place."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scorekit.weakstat.priors import (
    contrast_seed,
    equivalent_radius,
    outside_map,
    place_loss,
    smoothness_loss,
)


def _disc(shape, centre, radius) -> torch.Tensor:
    y, x = np.indices(shape)
    return torch.tensor((y - centre[0]) ** 2 + (x - centre[1]) ** 2 < radius ** 2,
                        dtype=torch.float32)[None, None]


def test_smoothness_makes_a_texture_far_dearer_than_one_blob_of_the_same_area():
    flat = torch.full((1, 1, 64, 64), 0.5)
    blob = _disc((64, 64), (32, 32), 10)
    texture = torch.zeros(1, 1, 64, 64)
    texture.view(-1)[torch.randperm(64 * 64, generator=torch.Generator().manual_seed(0))
                     [:int(blob.sum())]] = 1
    assert smoothness_loss(texture, flat) > 10 * smoothness_loss(blob, flat)


def test_a_region_on_the_image_border_pays_for_its_boundary_there_too():
    flat = torch.full((1, 1, 64, 64), 0.5)
    inside = torch.zeros(1, 1, 64, 64)
    inside[..., 20:40, 20:40] = 1
    corner = torch.zeros(1, 1, 64, 64)
    corner[..., :20, :20] = 1
    assert smoothness_loss(corner, flat).item() == pytest.approx(smoothness_loss(inside, flat)
                                                                 .item())


def test_boundaries_along_image_edges_cost_less_than_across_flat_tissue():
    blob = _disc((64, 64), (32, 32), 10)
    assert smoothness_loss(blob, blob) < 0.1 * smoothness_loss(blob, torch.full_like(blob, 0.5))


def test_equivalent_radius_is_that_of_a_disc_or_ball_of_the_roi_size():
    assert equivalent_radius(math.pi * 100 / 10000, (100, 100)) == pytest.approx(10)
    assert equivalent_radius(4 / 3 * math.pi * 27 / 8000, (20, 20, 20)) == pytest.approx(3)


def test_place_marks_background_beyond_the_margin_around_the_weak_mask():
    weak = np.zeros((100, 100), bool)
    weak[48:52, 48:52] = True
    fraction = math.pi * 10 ** 2 / 1e4  # a disc of radius 10
    outside = outside_map(weak, fraction, margin=1.5)
    y, x = np.indices(weak.shape)
    distance_to_centre = np.hypot(y - 49.5, x - 49.5)
    assert not outside[distance_to_centre < 16].any()  # 15 from the weak mask's edge
    assert outside[distance_to_centre > 19].all()
    m_p = torch.zeros(1, 1, 100, 100)
    m_p[..., 40:60, 40:60] = 0.99  # inside the allowed zone: no cost
    assert place_loss(m_p, torch.tensor(outside, dtype=torch.float32)[None, None]) < 1e-5
    m_p[..., :10, :10] = 0.9  # 100 of ~8,800 background pixels: −log(0.1) × 100 / 8,800
    assert place_loss(m_p, torch.tensor(outside, dtype=torch.float32)[None, None]) > 0.02


def test_the_contrast_seed_sits_in_the_dark_disc_not_in_a_dark_border_band():
    rng = np.random.default_rng(0)
    image = 0.6 + 0.1 * rng.standard_normal((96, 96))
    image[:, :8] = 0.05  # a dark band along the border, as beside an ultrasound sector
    y, x = np.indices(image.shape)
    lesion = np.hypot(y - 40, x - 60) < 10
    image[lesion] = 0.2
    seed = contrast_seed(image, float(lesion.mean()))
    assert seed.any() and (seed & lesion).sum() == seed.sum()


def test_the_contrast_seed_finds_a_bright_ball_in_3d_when_told_the_roi_is_brighter():
    rng = np.random.default_rng(0)
    volume = 0.2 + 0.05 * rng.standard_normal((40, 40, 40))
    z, y, x = np.indices(volume.shape)
    bone = np.sqrt((z - 15) ** 2 + (y - 24) ** 2 + (x - 22) ** 2) < 7
    volume[bone] = 0.8
    seed = contrast_seed(volume, float(bone.mean()), "brighter")
    assert seed.any() and (seed & bone).sum() == seed.sum()
    assert not (contrast_seed(volume, float(bone.mean()), "darker") & bone).any()


def test_each_prior_applies_only_where_its_inputs_exist():
    from scorekit.weakstat.model import WeakStatConfig

    def active(losses):
        return WeakStatConfig(losses=losses).active_priors()

    assert active(["stat"]) == ("smooth", "contrast")
    assert active(["stat", "weak"]) == ("smooth", "place")
    assert active(["weak"]) == ("smooth",)
    assert active(["full"]) == ()
    assert WeakStatConfig(losses=["stat"], priors=["smooth"]).active_priors() == ("smooth",)
