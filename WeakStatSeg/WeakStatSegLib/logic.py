"""What the WeakStatSeg module does, without Qt or dialogs.

A dataset folder holds ``images/<name>.nii.gz`` (2D pictures are single-slice volumes),
``weak/<name>.nii.gz`` (the painted weak mask) and ``dataset.csv`` with the columns
``scorekit weakstat`` reads (image, mask, fraction, weak_mask): only the statistic and the
weak mask are kept, never the full mask. Training and segmentation run ``scorekit`` in a
child process (``scorekit.jobs``).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from scorekit import jobs
from scorekit.data.atomic import write_csv_atomic
from scorekit.data.labelmap import LabelMap
from scorekit.data.volume import Volume, read_volume, write_volume
from scorekit.errors import ScoreKitError
from scorekit.registry import CASE_ID, WEAKSTAT_ROI_CONTRASTS, WEAKSTAT_STEPS
from SCORESlicerLib.handover import volume_steps
from SCORESlicerLib.mrml import (
    add_segmentation_node,
    labelmap_from_segmentation_node,
    segments,
    volume_from_node,
)
from SCORESlicerLib.pending import PendingResult

DATASET_CSV = "dataset.csv"
COLUMNS = ["image", "mask", "fraction", "weak_mask"]
# What a dataset made here can train with: it keeps no full masks, so no "full" loss.
LOSS_CHOICES = {"stat+weak": "stat,weak", "stat": "stat", "weak": "weak"}


def grey_volume(volume_node) -> Volume:
    """The node's voxels as one grey channel (RGB pictures are averaged)."""
    volume = volume_from_node(volume_node)
    if volume.array.ndim == 4:
        return volume.with_array(volume.array.mean(axis=-1).astype(np.float32))
    return volume


def segment_mask(segmentation_node, segment_id: str, volume_node) -> np.ndarray:
    """One segment as a boolean array on the volume's grid (empty if it lies outside)."""
    segment = segmentation_node.GetSegmentation().GetSegment(segment_id)
    if segment is None:
        raise ScoreKitError(f"segment '{segment_id}': not in {segmentation_node.GetName()}")
    labels = labelmap_from_segmentation_node(segmentation_node, volume_node)
    value = list(segments(segmentation_node)).index(segment_id) + 1
    return labels.array == value


def measure_fraction(segmentation_node, segment_id: str, volume_node) -> float:
    """The ROI's area (volume) fraction of the image, from an existing segment."""
    return float(segment_mask(segmentation_node, segment_id, volume_node).mean())


def read_rows(dataset: Path) -> list[dict]:
    path = dataset / DATASET_CSV
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def image_path(name: str) -> str:
    """Where a dataset keeps an image, relative to its folder (as dataset.csv names it)."""
    return f"images/{name}.nii.gz"


class WeakStatLogic:
    """WeakStatSeg's operations; the module's Logic class is this plus Slicer's base."""

    measure_fraction = staticmethod(measure_fraction)
    read_rows = staticmethod(read_rows)

    @staticmethod
    def has_image(dataset: str | os.PathLike, name: str) -> bool:
        return any(r["image"] == image_path(name) for r in read_rows(Path(dataset)))

    @staticmethod
    def add_image(dataset: str | os.PathLike, name: str, volume_node, fraction: float,
                  weak_node, weak_segment_id: str, replace: bool = False) -> dict:
        """Record an image with its ROI fraction and weak mask; a same-named one is
        replaced only with ``replace``. Everything is checked before anything is written."""
        dataset = Path(dataset)
        if not CASE_ID.match(name):
            raise ScoreKitError(f"image name '{name}': use letters, digits, '_', '-', '.'")
        if not replace and WeakStatLogic.has_image(dataset, name):
            raise ScoreKitError(f"image '{name}': already in {dataset}; choose another name "
                                "or replace it")
        if not 0.0 <= fraction <= 1.0:
            raise ScoreKitError(f"image '{name}': ROI fraction {fraction} is outside [0, 1] "
                                "(give a percentage 0..100 in the module)")
        image = grey_volume(volume_node)
        weak = segment_mask(weak_node, weak_segment_id, volume_node)
        if not weak.any():
            raise ScoreKitError(f"image '{name}': the weak mask is empty or outside the image")
        if weak.mean() > fraction:
            raise ScoreKitError(f"image '{name}': the weak mask covers {100 * weak.mean():.1f} % "
                                f"of the image, more than the ROI's {100 * fraction:.1f} %")
        row = {"image": image_path(name), "mask": "", "fraction": f"{fraction:.6f}",
               "weak_mask": f"weak/{name}.nii.gz"}
        write_volume(image, dataset / row["image"])
        write_volume(image.with_array(weak.astype(np.uint8)), dataset / row["weak_mask"])
        rows = [r for r in read_rows(dataset) if r["image"] != row["image"]] + [row]
        write_csv_atomic(dataset / DATASET_CSV, rows, COLUMNS)
        return row

    @staticmethod
    def start_training(dataset: str | os.PathLike, model_dir: str | os.PathLike,
                       losses: str = "stat+weak", steps: int = WEAKSTAT_STEPS,
                       backbone: str | None = None, size: list[int] | None = None,
                       device: str = "auto", roi_contrast: str = WEAKSTAT_ROI_CONTRASTS[0],
                       on_progress=None, on_log=None) -> jobs.Job:
        """Start ``scorekit weakstat train`` on the dataset's CSV in a child process."""
        if losses not in LOSS_CHOICES:
            raise ScoreKitError(f"losses '{losses}': a dataset of the module keeps no full "
                                f"masks; choose one of {', '.join(LOSS_CHOICES)}")
        csv_path = Path(dataset) / DATASET_CSV
        if not csv_path.exists():
            raise ScoreKitError(f"{dataset}: no {DATASET_CSV}; add images first")
        argv = ["weakstat", "train", "--data", csv_path, "--out", model_dir,
                "--losses", LOSS_CHOICES[losses], "--steps", steps, "--device", device,
                "--roi-contrast", roi_contrast, "--json-progress"]
        argv += (["--backbone", backbone] if backbone else [])
        argv += (["--size", *size] if size else [])
        return jobs.Job(argv, on_progress=on_progress, on_log=on_log).start()

    @staticmethod
    def start_segment(volume_node, model_dir: str | os.PathLike, device: str = "auto",
                      on_progress=None, on_log=None) -> PendingResult:
        """Segment in a child; the result is a new segmentation node "<volume> WeakStatSeg"
        with one segment, "ROI"."""
        def prepare(folder: Path):
            yield from volume_steps(grey_volume(volume_node), folder / "image.nrrd")
            return ["weakstat", "segment", "--model", model_dir, "--image",
                    folder / "image.nrrd", "--out", folder / "mask.nii.gz", "--device", device]

        def finish(folder: Path):
            mask = read_volume(folder / "mask.nii.gz", allow_single_slice=True)
            labels = LabelMap(mask.array.astype(np.uint8), mask.geometry, regions={1: "ROI"})
            return add_segmentation_node(labels, f"{volume_node.GetName()} WeakStatSeg",
                                         reference_node=volume_node)

        return PendingResult(prepare, finish, on_progress, on_log)

    @staticmethod
    def segment(volume_node, model_dir: str | os.PathLike, device: str = "auto", on_log=None):
        """``start_segment``, waited for (scripts and tests)."""
        return WeakStatLogic.start_segment(volume_node, model_dir, device,
                                           on_log=on_log).wait()
