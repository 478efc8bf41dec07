"""From a case's files to the network's input tensors, the same for training and refinement.

The volume is cropped to the box around the model's regions (plus a margin), so that a
512×512×343 CT with two humeri costs a few million voxels, not ninety.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from scorekit.data.labelmap import LabelMap
from scorekit.data.volume import Volume
from scorekit.errors import ScoreKitError
from scorekit.score.model import ModelConfig, normalise_ct
from scorekit.score.morphology import band
from scorekit.score.priors import prior_function


@dataclass(frozen=True)
class CaseInputs:
    box: tuple[slice, slice, slice]  # crop in the full [z, y, x] array
    image: torch.Tensor  # (1, Z, Y, X) normalised
    initial: torch.Tensor  # (K, Z, Y, X) bool
    prior: torch.Tensor  # (1, Z, Y, X) in [0, 1]
    surroundings: float  # lo of the boundary prior, in intensity units


def missing_regions(labels: LabelMap, config: ModelConfig) -> list[str]:
    """The model's regions this segmentation lacks (a scan may show only some structures)."""
    return [r for r in config.regions if r not in labels.names]


def region_masks(labels: LabelMap, regions: list[str], source: str) -> np.ndarray:
    """(K, Z, Y, X) bool masks in the model's region order. A region the segmentation
    lacks is empty; one with none of the regions is refused."""
    present = [r for r in regions if r in labels.names]
    if not present:
        raise ScoreKitError(f"{source}: segmentation has none of the regions the model "
                            f"knows ({', '.join(regions)}); it has {', '.join(labels.names)}")
    masks = np.zeros((len(regions), *labels.array.shape), dtype=bool)
    for k, region in enumerate(regions):
        if region in present:
            masks[k] = labels.mask(region)
    return masks


def crop_box(masks: np.ndarray, margin: int, min_size) -> tuple[slice, slice, slice]:
    """Bounding box of all masks, grown by ``margin`` and to at least ``min_size``."""
    any_mask = masks.any(axis=0)
    if not any_mask.any():
        raise ScoreKitError("all regions are empty; nothing to refine")
    box = []
    for axis, size in enumerate(any_mask.shape):
        other = tuple(a for a in range(3) if a != axis)
        hits = np.flatnonzero(any_mask.any(axis=other))
        low, high = hits[0] - margin, hits[-1] + 1 + margin
        grow = max(min_size[axis] - (high - low), 0)
        low, high = low - grow // 2, high + grow - grow // 2
        low, high = max(low, 0), min(high, size)
        box.append(slice(int(low), int(high)))
    return tuple(box)


def case_inputs(image: Volume, initial: LabelMap, config: ModelConfig, source: str,
                device: str | torch.device = "cpu") -> CaseInputs:
    masks = region_masks(initial, config.regions, source)
    box = crop_box(masks, config.crop_margin, config.patch_size)
    crop = image.array[box]
    masks = torch.from_numpy(np.ascontiguousarray(masks[(slice(None), *box)])).to(device)
    band_voxels = band(masks.any(0), config.eta).cpu().numpy()
    pixels = torch.from_numpy(np.ascontiguousarray(crop)).to(device)
    try:
        prior, lo = prior_function(config.prior)(pixels, band_voxels)
    except ValueError as exc:
        raise ScoreKitError(f"{source}: cannot compute the boundary prior ({exc})") from None
    prior = prior[None]
    return CaseInputs(box, normalise_ct(pixels, config.intensity_window)[None], masks, prior, lo)
