"""The working grid: millimetres the same on every scan, and an exact way back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scorekit.data.labelmap import LabelMap
from scorekit.data.volume import Geometry, Volume
from scorekit.score.inputs import case_inputs, changes_on_scan, on_grid, split_index
from scorekit.score.model import ModelConfig, build_network
from scorekit.score.refine import index_of, refine_case

OBLIQUE = (1.0, 0, 0, 0, 0.8, -0.6, 0, 0.6, 0.8)
GRIDS = {  # (x, y, z) spacing, direction
    "anisotropic 1×1×3 mm": ((1.0, 1.0, 3.0), (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0)),
    "oblique 0.8×0.9×2.5 mm": ((0.8, 0.9, 2.5), OBLIQUE),
    "sub-millimetre 0.23 mm": ((0.23, 0.23, 0.23), OBLIQUE),
}


def _labels(spacing, direction, seed=0) -> LabelMap:
    shape = (14, 30, 34)
    geometry = Geometry(shape[::-1], spacing, (-12.0, 40.0, -300.0), direction)
    z, y, x = np.mgrid[:shape[0], :shape[1], :shape[2]]
    array = np.zeros(shape, np.uint8)
    array[(np.abs(z - 6) < 4) & (np.abs(y - 12) < 7) & (np.abs(x - 10) < 6)] = 3
    array[(np.abs(z - 7) < 5) & (np.abs(y - 16) < 6) & (np.abs(x - 24) < 6)] = 7
    array[np.random.default_rng(seed).random(shape) < 0.01] = 7  # single voxels
    return LabelMap(array, geometry, regions={3: "a", 7: "b"})


@pytest.mark.parametrize("grid", list(GRIDS))
def test_labels_go_to_a_finer_working_grid_and_back_unchanged(grid):
    spacing, direction = GRIDS[grid]
    labels = _labels(spacing, direction)
    working = labels.geometry.isotropic(min(spacing) / 2)  # finer in every axis
    there = on_grid(labels.array, labels.geometry, working, nearest=True)
    back = on_grid(there, working, labels.geometry, nearest=True)
    assert np.array_equal(back, labels.array)


@pytest.mark.parametrize("grid", list(GRIDS))
@pytest.mark.parametrize("spacing_mm", [0.5, 1.0, 1.7])
def test_a_model_that_changes_nothing_returns_the_initial_labels_exactly(grid, spacing_mm):
    spacing, direction = GRIDS[grid]
    labels = _labels(spacing, direction)
    image = Volume(labels.array.astype(np.float32) * 300, labels.geometry)
    config = ModelConfig(regions=["a", "b"], spacing_mm=spacing_mm, prior="local",
                         patch_size=[16, 16, 16])
    inputs = case_inputs(image, labels, config, "case")
    before = index_of(inputs.initial).numpy()
    assert inputs.grid.spacing == (spacing_mm,) * 3
    assert not (changes_on_scan(before, before, inputs) >= 0).any()


def test_a_change_on_the_working_grid_lands_where_it_is_in_space():
    labels = _labels(*GRIDS["anisotropic 1×1×3 mm"])
    image = Volume(labels.array.astype(np.float32) * 300, labels.geometry)
    config = ModelConfig(regions=["a", "b"], spacing_mm=1.0, prior="local",
                         patch_size=[16, 16, 16])
    inputs = case_inputs(image, labels, config, "case")
    before = index_of(inputs.initial).numpy()
    after = before.copy()
    after[before == 1] = 0  # region "a" removed on the working grid
    changes = changes_on_scan(after, before, inputs)
    crop = labels.array[inputs.box]
    assert np.array_equal(changes >= 0, crop == 3)
    assert (changes[crop == 3] == 0).all()


def test_a_model_refines_a_scan_of_another_resolution():
    labels = _labels(*GRIDS["anisotropic 1×1×3 mm"])
    image = Volume(labels.array.astype(np.float32) * 300, labels.geometry)
    config = ModelConfig(regions=["a", "b"], spacing_mm=0.7, prior="local",
                         patch_size=[16, 16, 16], features=[4, 8, 16])
    torch.manual_seed(0)
    refined = refine_case(image, labels, build_network(config).eval(), config,
                          torch.device("cpu"))
    assert refined.geometry == labels.geometry and refined.regions == labels.regions
    assert set(np.unique(refined.array)) <= {0, 3, 7}


def test_split_index_gives_one_mask_per_region():
    index = torch.tensor([[[0, 1, 2, 2]]])
    masks = split_index(index, 3)
    assert masks.shape == (3, 1, 1, 4) and not masks[2].any()
    assert torch.equal(index_of(masks), index)


def test_the_working_grid_covers_the_scans_box_with_its_first_corner_shared():
    geometry = Geometry((10, 8, 5), (0.8, 0.9, 3.0), (1.0, 2.0, 3.0), OBLIQUE)
    working = geometry.isotropic(1.0)
    assert working.size == (8, 8, 15)
    corner = np.array(geometry.origin) - np.array(geometry.direction).reshape(3, 3) @ (
        np.array(geometry.spacing) / 2)
    w_corner = np.array(working.origin) - np.array(working.direction).reshape(3, 3) @ (
        np.full(3, 0.5))
    assert np.allclose(corner, w_corner)
    assert working.direction == geometry.direction
