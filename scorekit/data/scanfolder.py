"""Folders of CT scans with reference label maps and their structure names.

Per case ``<case>_ct.nii.gz`` (any volume format, or a DICOM series folder ``<case>_ct/``),
``<case>_seg.nii.gz`` (a label map on any grid) and ``<case>_seg.json`` (label value →
structure name, e.g. TotalSegmentator's names). The shape of the TotalSegmentator
dataset's subjects and of many challenge datasets once merged into one label map.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scorekit.data.labelmap import LabelMap
from scorekit.data.labels import (
    label_sidecar,
    read_labelmap,
    read_sidecar_names,
    resample_labelmap,
)
from scorekit.data.volume import Volume, read_volume
from scorekit.errors import ScoreKitError
from scorekit.registry import VOLUME_SUFFIXES

CT_TAG, SEG_TAG = "_ct", "_seg"
# a structure smaller than this in a scan (cut by the field of view) is left out of it
MIN_REGION_ML = 1.0


def is_scan_folder(path: Path) -> bool:
    """A folder of this shape (it holds structure names beside label maps)."""
    return path.is_dir() and any(path.glob(f"*{SEG_TAG}.json"))


def scan_folder_cases(data: Path, at_least: int = 1) -> list[tuple[str, Path, Path]]:
    """(case, CT, label map) for every ``<case>_ct`` of ``data``, each with its label map
    and names beside it."""
    data = Path(data)
    if not data.is_dir():
        raise ScoreKitError(f"{data}: not a folder")
    cases = []
    for ct in sorted(data.iterdir()):
        case = _case_of(ct)
        if case is None:
            continue
        seg = next((data / f"{case}{SEG_TAG}{s}" for s in VOLUME_SUFFIXES
                    if (data / f"{case}{SEG_TAG}{s}").exists()), None)
        if seg is None:
            raise ScoreKitError(f"{ct}: no label map {case}{SEG_TAG}.nii.gz beside it")
        if label_sidecar(seg) is None:
            raise ScoreKitError(f"{seg}: no structure names {case}{SEG_TAG}.json beside it")
        cases.append((case, ct, seg))
    if len(cases) < at_least:
        raise ScoreKitError(f"{data}: needs at least {at_least} case(s) of <case>{CT_TAG}"
                            f".nii.gz + <case>{SEG_TAG}.nii.gz + <case>{SEG_TAG}.json")
    return cases


def _case_of(path: Path) -> str | None:
    """The case a ``<case>_ct`` file or DICOM folder belongs to (None: not a CT)."""
    if path.is_dir():
        return path.name.removesuffix(CT_TAG) if path.name.endswith(CT_TAG) else None
    for suffix in VOLUME_SUFFIXES:
        if path.name.endswith(CT_TAG + suffix):
            return path.name.removesuffix(CT_TAG + suffix)
    return None


def read_scan_case(ct: Path, seg: Path) -> tuple[Volume, LabelMap]:
    """The CT and its reference label map on the CT's grid (nearest neighbour in physical
    space where the grids differ)."""
    image = read_volume(ct)
    labels = read_labelmap(seg, allow_empty=True)
    if not labels.geometry.matches(image.geometry):
        labels = resample_labelmap(labels, image.geometry, str(seg))
    if not labels.regions:
        raise ScoreKitError(f"{seg}: no structure in the label map")
    return image, labels


def default_structures(data: Path, max_cases: int | None) -> set[str]:
    """Every structure the sidecars of at least two cases name."""
    seen: dict[str, int] = {}
    for _, _, seg in scan_folder_cases(data, at_least=2)[:max_cases]:
        for name in set(read_sidecar_names(seg).values()):
            seen[name] = seen.get(name, 0) + 1
    return {name for name, count in seen.items() if count >= 2}


def chosen_regions(labels: LabelMap, structures: set[str] | None) -> dict[int, str]:
    """The regions of a case a suite uses: chosen by name, and at least ``MIN_REGION_ML``."""
    voxel_ml = float(np.prod(labels.geometry.spacing_zyx)) / 1000.0
    counts = np.bincount(labels.array.ravel().astype(np.int64))
    return {v: n for v, n in labels.regions.items()
            if (structures is None or n in structures)
            and v < len(counts) and counts[v] * voxel_ml >= MIN_REGION_ML}
