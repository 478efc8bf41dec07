"""Reading and writing label maps, and where their region names come from.

Names come, in this order, from the segments of a ``.seg.nrrd``, from a JSON sidecar beside
a plain label map (``seg.nii.gz`` → ``seg.json``, holding ``{"1": "humerus_left", ...}``
as TotalSegmentator's label maps do), or from the ``names`` a caller passes (an initial
segmenter's class map, see ``scorekit.initial.totalseg.class_map_names``). Values without
a name are called ``label_<value>``.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from scorekit.data.atomic import atomic_path
from scorekit.data.labelmap import LabelMap
from scorekit.data.segnrrd import SEG_NRRD, read_seg_nrrd, write_seg_nrrd
from scorekit.data.volume import (
    Geometry,
    Volume,
    check_output_format,
    read_volume,
    resample,
    write_image,
)
from scorekit.errors import ScoreKitError
from scorekit.registry import VOLUME_SUFFIXES

# At most this many distinct values for an integer volume to be taken for a label map.
MAX_LABELS = 1000


def is_labelmap_path(path: str | os.PathLike) -> bool:
    """True for ``.seg.nrrd`` files and plain volumes with a label-name sidecar."""
    return str(path).endswith(SEG_NRRD) or label_sidecar(path) is not None


def label_sidecar(path: str | os.PathLike, strict: bool = False) -> Path | None:
    """The JSON beside ``path`` when it names label values (``{"1": "liver"}`` or
    ``{"labels": {...}}``); None for none, a folder, or another kind of JSON such as a BIDS
    sidecar of a CT (``{"Modality": "CT", ...}``). A sidecar that is not JSON at all is None
    too, unless ``strict`` (reading a label map: its names would silently be lost)."""
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        return None
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        if strict:
            raise ScoreKitError(f"{sidecar}: the region names of {Path(path).name} are not "
                                f"valid JSON ({exc})") from None
        return None
    data = data.get("labels", data) if isinstance(data, dict) else None
    if not isinstance(data, dict) or not data:
        return None
    return sidecar if all(str(k).strip().isdigit() for k in data) else None


def present_values(array: np.ndarray) -> np.ndarray:
    """The distinct values of a non-negative integer array, counted a slab at a time, so
    that a large label map is never copied whole into 64-bit integers."""
    high = int(array.max(initial=0))
    seen = np.zeros(high + 1, dtype=bool)
    slabs = array.reshape(-1, *array.shape[-2:]) if array.ndim >= 2 else array[None]
    for start in range(0, len(slabs), 16):
        seen |= np.bincount(slabs[start:start + 16].ravel(), minlength=high + 1) > 0
    return np.flatnonzero(seen)


def looks_like_labels(array: np.ndarray) -> bool:
    """Heuristic for unnamed files: non-negative integers with few distinct values."""
    if array.dtype.kind not in "iub" or array.size == 0:
        return False
    low, high = int(array.min()), int(array.max())
    if low < 0 or high > 65535:
        return False
    return len(present_values(array)) <= MAX_LABELS


def file_stem(path: str | os.PathLike) -> str:
    """The name without its image suffix (``a.nii.gz`` and ``a.seg.nrrd`` → ``a``; a
    folder keeps its name)."""
    name = Path(path).name
    for suffix in (SEG_NRRD, *VOLUME_SUFFIXES):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def sidecar_path(path: str | os.PathLike) -> Path:
    """``seg.nii.gz`` → ``seg.json``: where a plain label map keeps its region names."""
    return Path(path).with_name(file_stem(path) + ".json")


def as_labelmap(volume: Volume, names: dict[int, str], source: str) -> LabelMap:
    """Name the values present in ``volume``; refuse non-integer or negative content."""
    array = volume.array
    if array.dtype.kind == "f" and not np.all(np.mod(array, 1) == 0):
        raise ScoreKitError(f"{source}: label map holds non-integer values")
    if array.dtype.kind not in "iubf" or (array.size and array.min() < 0):
        raise ScoreKitError(f"{source}: label map must hold non-negative integers")
    high = int(array.max(initial=0))
    if high > np.iinfo(np.uint32).max:
        raise ScoreKitError(f"{source}: label value {high} is too large (at most "
                            f"{np.iinfo(np.uint32).max})")
    # The smallest type that holds every value (65537 must stay 65537, not wrap to 1).
    kind = np.uint8 if high < 2**8 else np.uint16 if high < 2**16 else np.uint32
    array = array.astype(kind, copy=False)
    present = [int(v) for v in present_values(array) if v != 0]
    regions = {v: names.get(v, f"label_{v}") for v in present}
    return LabelMap(array, volume.geometry, regions=regions)


def read_labelmap(path: str | os.PathLike, names: dict[int, str] | None = None,
                  allow_empty: bool = False) -> LabelMap:
    """Read a ``.seg.nrrd`` or a plain label map and name its regions (see module doc)."""
    if str(path).endswith(SEG_NRRD):
        labels = read_seg_nrrd(path)
    else:
        names = names or {}
        sidecar = label_sidecar(path, strict=True)
        if sidecar is not None:
            names = _read_sidecar(sidecar)
        labels = as_labelmap(read_volume(path), names, str(path))
    if not allow_empty and not labels.array.any():
        raise ScoreKitError(f"{path}: label map is empty (no non-zero voxel)")
    return labels


def read_sidecar_names(path: str | os.PathLike) -> dict[int, str]:
    """The region names in the sidecar of the label map at ``path``."""
    return _read_sidecar(sidecar_path(path))


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
        return write_seg_nrrd(labels, path)
    check_output_format(path)
    names = {str(v): n for v, n in sorted(labels.regions.items())}
    # Both files or neither: each is written to a temporary name and renamed only when
    # both are complete (the sidecar first, then the image).
    with atomic_path(path) as image_tmp, atomic_path(sidecar_path(path)) as names_tmp:
        write_image(labels, image_tmp)
        names_tmp.write_text(json.dumps(names, indent=1) + "\n", encoding="utf-8")
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


def read_any(path: str | os.PathLike, names: dict[int, str] | None = None
             ) -> Volume | LabelMap:
    """A label map when the file says so (``.seg.nrrd``, sidecar, ``names`` given) or
    looks like one (few non-negative integers); a plain volume otherwise."""
    if is_labelmap_path(path) or names:
        return read_labelmap(path, names, allow_empty=True)
    volume = read_volume(path)
    if looks_like_labels(volume.array):
        return as_labelmap(volume, {}, str(path))
    return volume
