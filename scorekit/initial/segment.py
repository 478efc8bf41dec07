"""An initial segmentation from a registered engine (``scorekit.registry.ENGINES``).

An engine is a function ``(image, structures, source=..., fast=..., device=...) ->
LabelMap`` on the image's grid, named after the structures; ``source`` names the input in
error messages.
"""

from __future__ import annotations

import os
from pathlib import Path

from scorekit import registry
from scorekit.data.labelmap import LabelMap
from scorekit.data.labels import write_labelmap
from scorekit.data.volume import read_volume
from scorekit.errors import ScoreKitError
from scorekit.progress import Progress, Silent

STEPS = 3  # read, segment, write


def default_engine() -> str:
    """TotalSegmentator when its package is installed, thresholds otherwise."""
    try:
        import totalsegmentator  # noqa: F401
    except ImportError:
        return "threshold"
    return "totalsegmentator"


def segment(image_path: str | os.PathLike, structures: list[str] | None = None,
            engine: str | None = None, fast: bool = False, device: str = "auto",
            progress: Progress | None = None) -> tuple[LabelMap, list[str]]:
    """Segment a CT; returns the label map and the requested structures that came back
    empty (reported by name rather than silently dropped)."""
    progress = progress or Silent()
    engine = engine or default_engine()
    run = registry.load(registry.ENGINES, engine, "engine")
    structures = list(structures or registry.DEFAULT_STRUCTURES)
    image = read_volume(image_path)
    progress.step("segment", STEPS, "read")
    labels = run(image, structures, source=str(image_path), fast=fast, device=device)
    progress.step("segment", STEPS, engine)
    empty = [s for s in structures if s not in labels.names or not labels.mask(s).any()]
    return labels, empty


def segment_to_file(image_path, out, progress: Progress | None = None, **options
                    ) -> tuple[Path, list[str]]:
    progress = progress or Silent()
    labels, empty = segment(image_path, progress=progress, **options)
    if not labels.array.any():
        raise ScoreKitError(f"{image_path}: none of the requested structures was found")
    written = write_labelmap(labels, out)
    progress.step("segment", STEPS, "write")
    progress.close()
    return written, empty
