"""From a case's files to the network's input tensors, the same for training and refinement.

The volume is cropped to the box around the model's regions (plus a margin), so that a
512×512×343 CT with two humeri costs a few million voxels, not ninety, and the crop is
resampled onto the model's **working grid**: isotropic voxels of ``spacing_mm`` with the
scan's direction, covering the crop's physical box (``Geometry.isotropic``). The network,
η, the margin and the augmentation radii thus mean the same millimetres on a 1×1×3 mm
scan, a 0.23 mm one and the training scans. Images are resampled linearly, masks by
nearest neighbour. A model with ``spacing_mm = None`` (made before the working grid)
works on each scan's own grid.

Back onto the scan (:func:`to_scan`): a scan voxel takes the refined label of the working
voxel nearest to its centre where that working voxel's label *changed*, and keeps its
initial label elsewhere, so a model that changes nothing returns the initial mask
exactly on any grid (oblique, anisotropic, finer or coarser than the working grid), and
where the working grid is as fine as the scan's in every axis, nearest-neighbour there
and back is itself the identity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from scorekit.data.labelmap import LabelMap
from scorekit.data.volume import Geometry, Volume, resample
from scorekit.errors import ScoreKitError
from scorekit.score.model import ModelConfig, normalise_ct
from scorekit.score.priors import prior_function


@dataclass(frozen=True)
class CaseInputs:
    box: tuple[slice, slice, slice]  # crop in the scan's [z, y, x] array
    crop: Geometry  # the crop on the scan's grid
    grid: Geometry  # the working grid (the crop's own when the model has no spacing)
    image: torch.Tensor  # (1, Z, Y, X) normalised, on the working grid
    initial: torch.Tensor  # (K, Z, Y, X) bool
    prior: torch.Tensor  # (1, Z, Y, X) in [0, 1]
    surroundings: float  # lo of the boundary prior, in intensity units


def missing_regions(labels: LabelMap, config: ModelConfig) -> list[str]:
    """The model's regions this segmentation lacks (a scan may show only some structures)."""
    return [r for r in config.regions if r not in labels.names]


def region_index(labels: LabelMap, regions: list[str], source: str) -> np.ndarray:
    """(Z, Y, X) uint16: k + 1 where region k of ``regions`` is, 0 elsewhere. A region the
    segmentation lacks is empty; one with none of the regions is refused."""
    present = [r for r in regions if r in labels.names]
    if not present:
        raise ScoreKitError(f"{source}: segmentation has none of the regions the model "
                            f"knows ({', '.join(regions)}); it has {', '.join(labels.names)}")
    lookup = np.zeros(max(int(labels.array.max()), *labels.regions) + 1, dtype=np.uint16)
    for k, region in enumerate(regions):
        if region in present:
            lookup[labels.value_of(region)] = k + 1
    return lookup[labels.array]


def split_index(index: torch.Tensor, regions: int) -> torch.Tensor:
    """(K, Z, Y, X) bool masks from a (Z, Y, X) index map."""
    return index[None] == torch.arange(1, regions + 1, device=index.device)[:, None, None, None]


def crop_box(inside: np.ndarray, margin, min_size) -> tuple[slice, slice, slice]:
    """Bounding box of ``inside``, grown by ``margin`` and to at least ``min_size`` voxels
    per axis (both (z, y, x))."""
    if not inside.any():
        raise ScoreKitError("all regions are empty; nothing to refine")
    box = []
    for axis, size in enumerate(inside.shape):
        other = tuple(a for a in range(3) if a != axis)
        hits = np.flatnonzero(inside.any(axis=other))
        low, high = hits[0] - margin[axis], hits[-1] + 1 + margin[axis]
        grow = max(min_size[axis] - (high - low), 0)
        low, high = low - grow // 2, high + grow - grow // 2
        box.append(slice(int(max(low, 0)), int(min(high, size))))
    return tuple(box)


# The default working grid is coarsened until the regions' crop fits this many voxels: a
# 512 × 512 CT at 0.7 mm with whole organs as regions would otherwise make a crop of 2e8
# voxels, several GB per tensor. 2.4e7 voxels (288³) is about 1 GB per case in training
# (image, prior, K masks); 1.5 mm, TotalSegmentator's own grid, fits a whole torso in it.
WORKING_VOXELS = 24_000_000
GRID_STEP_MM = 0.05


def default_spacing(finest_mm: float, extent_mm) -> float:
    """The working grid's voxel edge: ``finest_mm`` (rounded to 0.05 mm), or the finest
    edge at which a box of ``extent_mm`` (z, y, x) fits ``WORKING_VOXELS``."""
    budget = (float(np.prod(extent_mm)) / WORKING_VOXELS) ** (1 / 3)
    spacing = max(round(finest_mm / GRID_STEP_MM), math.ceil(budget / GRID_STEP_MM))
    return round(max(spacing, 1) * GRID_STEP_MM, 2)


def regions_extent_mm(labels: LabelMap, regions: list[str],
                      margin_mm: float = ModelConfig.crop_margin_mm) -> list[float]:
    """(z, y, x) extent in mm of the crop around ``regions`` (and its margin)."""
    spacing = labels.geometry.spacing_zyx
    margin = [math.ceil(margin_mm / s) for s in spacing]
    box = crop_box(region_index(labels, regions, "segmentation") > 0, margin, (1, 1, 1))
    return [(b.stop - b.start) * s for b, s in zip(box, spacing)]


def working_grid(crop: Geometry, config: ModelConfig) -> Geometry:
    return crop if config.spacing_mm is None else crop.isotropic(config.spacing_mm)


def on_grid(array: np.ndarray, source: Geometry, target: Geometry, nearest: bool,
            default: float = 0) -> np.ndarray:
    """``array`` (on ``source``) resampled onto ``target`` in physical space."""
    return resample(Volume(array, source), target, nearest=nearest, default=default).array


def case_inputs(image: Volume, initial: LabelMap, config: ModelConfig, source: str,
                device: str | torch.device = "cpu") -> CaseInputs:
    index = region_index(initial, config.regions, source)
    spacing = image.geometry.spacing_zyx
    working = config.spacing_mm or min(spacing)
    margin = [math.ceil(config.crop_margin_mm / s) for s in spacing]
    min_size = [math.ceil(p * working / s) for p, s in zip(config.patch_size, spacing)]
    box = crop_box(index > 0, margin, min_size)
    crop = image.geometry.cropped(box)
    grid = working_grid(crop, config)
    air = float(config.intensity_window[0])
    pixels = on_grid(np.ascontiguousarray(image.array[box], dtype=np.float32), crop, grid,
                     nearest=False, default=air)
    index = on_grid(np.ascontiguousarray(index[box]), crop, grid, nearest=True)
    pixels = torch.from_numpy(pixels).to(device)
    masks = split_index(torch.from_numpy(index.astype(np.int64)).to(device), len(config.regions))
    try:
        prior, lo = prior_function(config.prior)(pixels, masks, config.eta, grid.spacing_zyx)
    except ValueError as exc:
        raise ScoreKitError(f"{source}: cannot compute the boundary prior ({exc})") from None
    return CaseInputs(box, crop, grid, normalise_ct(pixels, config.intensity_window)[None],
                      masks, prior[None], lo)


def working_masks(labels: LabelMap, regions: list[str], inputs: CaseInputs, source: str
                  ) -> torch.Tensor:
    """(K, Z, Y, X) bool masks of ``labels`` (on the scan's grid) on the working grid."""
    index = region_index(labels, regions, source)[inputs.box]
    index = on_grid(np.ascontiguousarray(index), inputs.crop, inputs.grid, nearest=True)
    return split_index(torch.from_numpy(index.astype(np.int64)), len(regions))


def changes_on_scan(refined: np.ndarray, initial: np.ndarray, inputs: CaseInputs
                    ) -> np.ndarray:
    """The crop on the scan's grid: the refined index (0 / k + 1) where the nearest working
    voxel changed, −1 where it kept its initial label (see module doc). ``refined`` and
    ``initial`` are index maps on the working grid."""
    changed = np.where(refined != initial, refined.astype(np.int32), -1)
    return on_grid(changed, inputs.grid, inputs.crop, nearest=True, default=-1)
