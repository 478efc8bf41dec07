"""Label maps with named regions, and where the names come from.

A :class:`LabelMap` is a :class:`Volume` of non-negative integers plus ``regions``
(label value → region name). Names come, in this order, from the segments of a ``.seg.nrrd``,
from a JSON sidecar beside a plain label map (``seg.nii.gz`` → ``seg.json``, holding
``{"1": "humerus_left", ...}`` as TotalSegmentator's label maps do), or from a named class
map (``class_map="total"``: TotalSegmentator's task ``total``, v2). Values without a name are
called ``label_<value>``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from scorekit.data.atomic import write_text_atomic
from scorekit.data.volume import (
    VOLUME_SUFFIXES,
    Geometry,
    Volume,
    read_volume,
    resample,
    write_volume,
)
from scorekit.errors import ScoreKitError

SEG_NRRD = ".seg.nrrd"
# At most this many distinct values for an integer volume to be taken for a label map.
MAX_LABELS = 1000

# Distinct, colour-blind-friendly segment colours (Okabe–Ito, then Tableau), RGB in 0..1.
PALETTE = [
    (0.902, 0.624, 0.000), (0.337, 0.706, 0.914), (0.000, 0.620, 0.451),
    (0.941, 0.894, 0.259), (0.000, 0.447, 0.698), (0.835, 0.369, 0.000),
    (0.800, 0.475, 0.655), (0.580, 0.404, 0.741), (0.549, 0.337, 0.294),
    (0.737, 0.741, 0.133), (0.090, 0.745, 0.812), (0.498, 0.498, 0.498),
]


@dataclass(frozen=True)
class LabelMap(Volume):
    """Integer volume whose non-zero values are named regions."""

    regions: dict[int, str] = field(default_factory=dict)  # value -> name
    colors: dict[int, tuple[float, float, float]] = field(default_factory=dict)

    def value_of(self, name: str) -> int:
        for value, region in self.regions.items():
            if region == name:
                return value
        raise ScoreKitError(f"unknown region '{name}' (regions: {', '.join(self.names)})")

    @property
    def names(self) -> list[str]:
        return [self.regions[v] for v in sorted(self.regions)]

    def mask(self, name: str) -> np.ndarray:
        """Boolean mask ``[z, y, x]`` of one region."""
        return self.array == self.value_of(name)

    def color(self, value: int) -> tuple[float, float, float]:
        return self.colors.get(value, PALETTE[(value - 1) % len(PALETTE)])

    def region_stats(self) -> list[dict]:
        """Per region: value, name, voxel count and volume in millilitres."""
        counts = np.bincount(self.array.ravel(), minlength=max(self.regions, default=0) + 1)
        ml = self.geometry.voxel_volume_ml
        return [{"value": v, "name": self.regions[v], "voxels": int(counts[v]),
                 "volume_ml": round(float(counts[v]) * ml, 3)} for v in sorted(self.regions)]

    @classmethod
    def from_masks(cls, masks: dict[str, np.ndarray], geometry: Geometry) -> LabelMap:
        """Build a label map from named boolean masks; later masks win where they overlap."""
        array = np.zeros(geometry.shape, dtype=np.uint8 if len(masks) < 256 else np.uint16)
        for value, mask in enumerate(masks.values(), start=1):
            array[mask] = value
        return cls(array, geometry, regions=dict(enumerate(masks, start=1)))


def is_labelmap_path(path: str | os.PathLike) -> bool:
    """True for ``.seg.nrrd`` files and plain volumes that have a JSON sidecar."""
    return str(path).endswith(SEG_NRRD) or sidecar_path(path).exists()


def looks_like_labels(array: np.ndarray) -> bool:
    """Heuristic for unnamed files: non-negative integers with few distinct values."""
    if array.dtype.kind not in "iub" or array.size == 0:
        return False
    low, high = int(array.min()), int(array.max())
    if low < 0 or high > 65535:
        return False
    return int(np.count_nonzero(np.bincount(array.ravel().astype(np.int64)))) <= MAX_LABELS


def sidecar_path(path: str | os.PathLike) -> Path:
    """``seg.nii.gz`` → ``seg.json``: where a plain label map keeps its region names."""
    path = Path(path)
    name = path.name
    for suffix in VOLUME_SUFFIXES:
        if name.endswith(suffix):
            return path.with_name(name[: -len(suffix)] + ".json")
    return path.with_name(name + ".json")


def class_map_names(name: str) -> dict[int, str]:
    """Region names of a TotalSegmentator task (e.g. ``total``), from its installed package."""
    try:
        from totalsegmentator.map_to_binary import class_map
    except ImportError:
        raise ScoreKitError(f"class map '{name}' needs TotalSegmentator: "
                            "pip install 'scorekit[totalseg]'") from None
    if name not in class_map:
        raise ScoreKitError(f"unknown class map '{name}'; e.g. total, total_mr, body")
    return {int(k): v for k, v in class_map[name].items()}


def as_labelmap(volume: Volume, names: dict[int, str], source: str) -> LabelMap:
    """Name the values present in ``volume``; refuse non-integer or negative content."""
    array = volume.array
    if array.dtype.kind == "f":
        if not np.all(np.mod(array, 1) == 0):
            raise ScoreKitError(f"{source}: label map holds non-integer values")
        array = array.astype(np.int64)
    if array.dtype.kind not in "iub" or (array.size and array.min() < 0):
        raise ScoreKitError(f"{source}: label map must hold non-negative integers")
    array = array.astype(np.uint8 if array.max(initial=0) < 256 else np.uint16, copy=False)
    present = [int(v) for v in np.flatnonzero(np.bincount(array.ravel())) if v != 0]
    regions = {v: names.get(v, f"label_{v}") for v in present}
    return LabelMap(array, volume.geometry, regions=regions)


def read_labelmap(path: str | os.PathLike, class_map: str | None = None,
                  allow_empty: bool = False) -> LabelMap:
    """Read a ``.seg.nrrd`` or a plain label map and name its regions (see module doc)."""
    if str(path).endswith(SEG_NRRD):
        from scorekit.data.segnrrd import read_seg_nrrd

        labels = read_seg_nrrd(path)
    else:
        names = class_map_names(class_map) if class_map else {}
        sidecar = sidecar_path(path)
        if sidecar.exists():
            names = _read_sidecar(sidecar)
        labels = as_labelmap(read_volume(path), names, str(path))
    if not allow_empty and not labels.array.any():
        raise ScoreKitError(f"{path}: label map is empty (no non-zero voxel)")
    return labels


def _read_sidecar(path: Path) -> dict[int, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data = data.get("labels", data)
        return {int(k): str(v) for k, v in data.items()}
    except (ValueError, AttributeError) as exc:
        raise ScoreKitError(f"{path}: not a label-name sidecar ({exc})") from None


def write_labelmap(labels: LabelMap, path: str | os.PathLike) -> Path:
    """Write a ``.seg.nrrd``, or a plain label map plus its JSON sidecar, atomically."""
    path = Path(path)
    if str(path).endswith(SEG_NRRD):
        from scorekit.data.segnrrd import write_seg_nrrd

        return write_seg_nrrd(labels, path)
    write_volume(labels, path)
    names = {str(v): n for v, n in sorted(labels.regions.items())}
    write_text_atomic(sidecar_path(path), json.dumps(names, indent=1) + "\n")
    return path


def resample_labelmap(labels: LabelMap, reference: Geometry, source: str = "label map"
                      ) -> LabelMap:
    """Nearest-neighbour resampling onto ``reference`` (physical space, names kept)."""
    if not labels.geometry.overlaps(reference):
        raise ScoreKitError(f"{source}: no physical overlap with the reference image "
                            "(check origin and direction)")
    moved = resample(labels, reference, nearest=True)
    if labels.array.any() and not moved.array.any():
        raise ScoreKitError(f"{source}: no labelled voxel falls inside the reference image")
    return replace(labels, array=moved.array, geometry=reference)


def read_any(path: str | os.PathLike, class_map: str | None = None) -> Volume | LabelMap:
    """A label map when the file says so (``.seg.nrrd``, sidecar, ``class_map`` given) or
    looks like one (few non-negative integers); a plain volume otherwise."""
    if is_labelmap_path(path) or class_map:
        return read_labelmap(path, class_map, allow_empty=True)
    volume = read_volume(path)
    if looks_like_labels(volume.array):
        return as_labelmap(volume, {}, str(path))
    return volume
