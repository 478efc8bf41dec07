"""``scorekit segment``: an initial segmentation from TotalSegmentator or thresholds."""

from __future__ import annotations

import os
from pathlib import Path

from scorekit.data.labels import LabelMap, write_labelmap
from scorekit.data.volume import read_volume
from scorekit.errors import ScoreKitError
from scorekit.initial.threshold import check_ct, threshold_segment

ENGINES = ("totalsegmentator", "threshold")
DEFAULT_STRUCTURES = ["humerus_left", "humerus_right"]


def default_engine() -> str:
    """TotalSegmentator when its package is installed, thresholds otherwise."""
    try:
        import totalsegmentator  # noqa: F401
    except ImportError:
        return "threshold"
    return "totalsegmentator"


def segment(image_path: str | os.PathLike, structures: list[str] | None = None,
            engine: str | None = None, fast: bool = False, device: str = "auto"
            ) -> tuple[LabelMap, list[str]]:
    """Segment a CT; returns the label map and the requested structures that came back
    empty (reported by name rather than silently dropped)."""
    engine = engine or default_engine()
    if engine not in ENGINES:
        raise ScoreKitError(f"unknown engine '{engine}'; one of {', '.join(ENGINES)}")
    structures = list(structures or DEFAULT_STRUCTURES)
    image = read_volume(image_path)
    if engine == "threshold":
        labels = threshold_segment(image, structures, str(image_path))
    else:
        from scorekit.initial.totalseg import run_totalsegmentator

        check_ct(image, str(image_path))
        labels = run_totalsegmentator(image, structures, fast=fast, device=device)
    empty = [s for s in structures if s not in labels.names or not labels.mask(s).any()]
    return labels, empty


def segment_to_file(image_path, out, **options) -> tuple[Path, list[str]]:
    labels, empty = segment(image_path, **options)
    if not labels.array.any():
        raise ScoreKitError(f"{image_path}: none of the requested structures was found")
    return write_labelmap(labels, out), empty
