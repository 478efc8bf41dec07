"""A classical, offline bone segmenter: HU threshold, hole filling, connected components.

It is *not* a foundation model; it gives the SCORE loop honest initial masks when
TotalSegmentator or its weights are absent. Paired long bones (humeri, femora) are the
most lateral sizeable bone components on each side of the body's midline (so one paired
bone per field of view: humeri or femora); left means the patient's left (+x in LPS).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from scorekit.data.labelmap import LabelMap
from scorekit.data.volume import Volume
from scorekit.errors import ScoreKitError

BONE_HU = 180.0  # above soft tissue, below trabecular and cortical bone
BODY_HU = -300.0
MIN_BONE_ML = 2.0
PAIRED = ("humerus", "femur")
STRUCTURES = tuple(f"{b}_{s}" for b in PAIRED for s in ("left", "right"))


def check_ct(image: Volume, source: str) -> None:
    """Refuse volumes whose intensities are not CT Hounsfield units."""
    low, high = float(image.array.min()), float(image.array.max())
    if low > -500 or high < 300:
        raise ScoreKitError(f"{source}: intensities {low:g}..{high:g} do not look like CT in "
                            "Hounsfield units (expected air near -1000 and bone above 300)")


def threshold_segment(image: Volume, structures: list[str], source: str = "image",
                      fast: bool = False, device: str = "auto") -> LabelMap:
    """The registered engine (``fast`` and ``device`` do not apply: it is fast, on CPU)."""
    unknown = [s for s in structures if s not in STRUCTURES]
    if unknown:
        raise ScoreKitError(f"the threshold engine cannot find {', '.join(unknown)}; it knows "
                            f"{', '.join(STRUCTURES)}")
    if len({s.rsplit("_", 1)[0] for s in structures}) > 1:
        raise ScoreKitError("the threshold engine finds one paired bone per field of view "
                            f"(humeri or femora), not {', '.join(structures)}")
    check_ct(image, source)
    bones, count = _bone_components(image)
    midline = _body_midline_x(image)
    masks = {name: _most_lateral(bones, count, midline, name.rsplit("_", 1)[1], image.geometry)
             for name in structures}
    return LabelMap.from_masks(masks, image.geometry)


def _bone_components(image: Volume) -> tuple[np.ndarray, int]:
    return ndimage.label(bone_mask(image.array))


def bone_mask(hu: np.ndarray, threshold: float = BONE_HU) -> np.ndarray:
    """Voxels above ``threshold``, closed, holes filled slice by slice (the marrow is dark
    but inside the bone). Closing runs on an edge-padded copy: scipy's would erode the
    volume's outer slices away."""
    padded = np.pad(hu > threshold, 1, mode="edge")
    bone = ndimage.binary_closing(padded, iterations=1)[1:-1, 1:-1, 1:-1]
    return np.stack([ndimage.binary_fill_holes(s) for s in bone])


def _body_midline_x(image: Volume) -> float:
    """x index of the body's centre (all voxels denser than air and lung)."""
    columns = np.count_nonzero(image.array > BODY_HU, axis=(0, 1))
    if not columns.any():
        return image.array.shape[2] / 2
    return float(np.average(np.arange(columns.size), weights=columns))


def _most_lateral(labels: np.ndarray, count: int, midline: float, side: str,
                  geometry) -> np.ndarray:
    """The component farthest from the midline on ``side`` (in x), among sizeable ones."""
    index = np.arange(1, count + 1)
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, index)
    centres = ndimage.center_of_mass(np.ones_like(labels), labels, index)
    min_voxels = MIN_BONE_ML / geometry.voxel_volume_ml
    x_axis_sign = np.sign(geometry.direction[0]) or 1.0  # +x index → patient left in LPS
    best, best_offset = None, 0.0
    for label, size, centre in zip(index, sizes, centres):
        offset = (centre[2] - midline) * x_axis_sign
        lateral = offset if side == "left" else -offset
        if size >= min_voxels and lateral > best_offset:
            best, best_offset = label, lateral
    if best is None:
        return np.zeros(labels.shape, dtype=bool)
    return labels == best
