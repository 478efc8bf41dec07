"""Folders of CT scans with manual vertebra masks, named as VerSe names them.

``<scan>_ct.nii.gz`` pairs with ``<scan>_seg-vert_msk.nii.gz`` (VerSe's label codes:
1–7 C1–C7, 8–19 T1–T12, 20–25 L1–L6, 28 T13). Any folder of the same shape works.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scorekit.data.labelmap import LabelMap
from scorekit.data.labels import read_labelmap
from scorekit.data.volume import Geometry, Volume, read_volume, resample
from scorekit.errors import ScoreKitError

VERSE_NAMES = {**{v: f"C{v}" for v in range(1, 8)}, **{v: f"T{v - 7}" for v in range(8, 20)},
               **{v: f"L{v - 19}" for v in range(20, 26)}, 28: "T13"}
CT_SUFFIX, MASK_SUFFIX = "_ct.nii.gz", "_seg-vert_msk.nii.gz"
AIR_HU = -1024.0


def is_verse_folder(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob(f"*{CT_SUFFIX}"))


def verse_pairs(data: Path, at_least: int = 1) -> list[tuple[str, Path, Path]]:
    """(scan, CT, mask) for every CT of ``data``; each must have its mask beside it."""
    pairs = []
    for ct in sorted(Path(data).glob(f"*{CT_SUFFIX}")):
        scan = ct.name.removesuffix(CT_SUFFIX)
        mask = ct.parent / f"{scan}{MASK_SUFFIX}"
        if not mask.exists():
            raise ScoreKitError(f"{ct}: no vertebra mask {mask.name} beside it")
        pairs.append((scan, ct, mask))
    if len(pairs) < at_least:
        raise ScoreKitError(f"{data}: needs at least {at_least} *{CT_SUFFIX} + *{MASK_SUFFIX} "
                            "pair(s)")
    return pairs


def read_verse_scan(ct: Path, mask: Path) -> tuple[Volume, LabelMap]:
    """The CT and its vertebra labels (VerSe names), checked to share a grid."""
    image = read_volume(ct)
    labels = read_labelmap(mask, names=VERSE_NAMES, allow_empty=True)
    if not labels.geometry.matches(image.geometry):
        raise ScoreKitError(f"{mask}: not on the grid of {ct.name}")
    if not labels.regions:
        raise ScoreKitError(f"{mask}: no vertebra in the mask")
    return image, labels


def vertebra_crops(ct: Path, mask: Path, margin_mm: float, spacing_mm: float):
    """Yield (vertebra name, CT cube, bool mask cube) for every vertebra of one scan
    (``structure_crops``)."""
    image, labels = read_verse_scan(ct, mask)
    yield from structure_crops(image, labels, labels.names, margin_mm, spacing_mm)


def structure_crops(image: Volume, labels: LabelMap, names: list[str], margin_mm: float,
                    spacing_mm: float, max_edge: int | None = None):
    """Yield (name, CT cube, bool mask cube) for each structure ``names`` picks.

    Each cube is axis-aligned in patient space (array axis 0 runs inferior → superior, so
    its slices are axial whatever the scan's orientation), isotropic at ``spacing_mm`` (or
    coarser, so that an edge holds at most ``max_edge`` voxels: a liver's cube at 1 mm would
    hold 10⁷), centred on the structure's bounding box and ``margin_mm`` wider than its
    longest side; outside the scan it holds air. Neighbouring structures stay in the CT
    cube and out of the mask: the mask is this structure alone.
    """
    for name in names:
        inside = labels.mask(name)
        cube = _cube_around(image.geometry, inside, margin_mm, spacing_mm, max_edge)
        yield (name, resample(image, cube, nearest=False, default=AIR_HU),
               resample(image.with_array(inside.astype(np.uint8)), cube, nearest=True)
               .array.astype(bool))


def _cube_around(geometry: Geometry, inside: np.ndarray, margin_mm: float,
                 spacing_mm: float, max_edge: int | None = None) -> Geometry:
    box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in np.nonzero(inside))
    low, high = geometry.cropped(box).bounds()
    side_mm = float(np.max(high - low)) + 2 * margin_mm
    if max_edge:
        spacing_mm = max(spacing_mm, side_mm / max_edge)
    edge = int(np.ceil(side_mm / spacing_mm))
    if max_edge:
        edge = min(edge, max_edge)  # the ceiling of side / (side / max_edge) may round up
    origin = (low + high) / 2 - (edge - 1) / 2 * spacing_mm
    return Geometry((edge,) * 3, (spacing_mm,) * 3, tuple(float(o) for o in origin),
                    (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
