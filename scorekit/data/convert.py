"""Describing and converting image files (the library side of `scorekit info` and `convert`)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from scorekit.data.labelmap import LabelMap
from scorekit.data.labels import SEG_NRRD, read_any, resample_labelmap, write_labelmap
from scorekit.data.volume import Volume, read_volume, resample, write_volume
from scorekit.errors import ScoreKitError


def describe(path: str | os.PathLike, names: dict[int, str] | None = None) -> dict:
    """Geometry, type and intensity range of a file; regions too for a label map (named
    after ``names`` when the file does not name them)."""
    data = read_any(path, names)
    g = data.geometry
    info = {
        "path": str(path),
        "kind": "labelmap" if isinstance(data, LabelMap) else "volume",
        "size": list(g.size),
        "spacing": [round(s, 6) for s in g.spacing],
        "origin": [round(o, 6) for o in g.origin],
        "direction": [round(d, 6) for d in g.direction],
        "dtype": str(data.array.dtype),
        "range": [float(np.min(data.array)), float(np.max(data.array))],
    }
    if isinstance(data, LabelMap):
        info["regions"] = data.region_stats()
    return info


def convert(source: str | os.PathLike, target: str | os.PathLike,
            reference: str | os.PathLike | None = None,
            names: dict[int, str] | None = None) -> Path:
    """Convert between NIfTI, NRRD, MHA, DICOM series (read only) and ``.seg.nrrd``.

    With ``reference`` (an image or DICOM folder) the data is resampled onto its grid in
    physical space: nearest neighbour for label maps, linear for volumes.
    """
    target = Path(target)
    if target.exists() and target.is_dir():
        raise ScoreKitError(f"{target}: is a folder; DICOM output is not supported")
    data = read_any(source, names)
    if reference is not None:
        grid = read_volume(reference).geometry
        if isinstance(data, LabelMap):
            data = resample_labelmap(data, grid, source=str(source))
        else:
            data = resample(data, grid, nearest=False)
    if isinstance(data, LabelMap):
        return write_labelmap(data, target)
    if str(target).endswith(SEG_NRRD):
        raise ScoreKitError(f"{source}: is an intensity volume, not a label map; "
                            "cannot write it as .seg.nrrd")
    return write_volume(Volume(data.array, data.geometry), target)
