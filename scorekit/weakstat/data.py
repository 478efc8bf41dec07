"""WeakStatSeg datasets: images with a ROI fraction, and a weak mask and/or a reference mask.

Two forms:

* a CSV with columns ``image`` and ``mask`` (paths relative to the CSV); for real use,
  where the masks were discarded, ``mask`` may be empty when ``fraction`` (the ROI's area or
  volume fraction, in [0, 1]) is given; ``weak_mask`` names a painted weak mask; an optional
  ``group`` column keeps images of one patient on one side of a train/test split;
* a folder with ``images/`` and ``masks/`` (any capitalisation): files pair by name, or by
  the name after its first ``_`` (``bus_0001-l.png`` ↔ ``mask_0001-l.png``); the group is
  the name up to its last ``-`` (``0001-l`` and ``0001-r``: two views of patient 0001).
  A CSV in the folder with columns ``ID`` and ``kFold`` (BUS-BRA's ``5-fold-cv.csv``) gives
  the dataset's own cross-validation fold of each image it names (``ID`` = file stem).

A folder of CT scans with vertebra masks named as VerSe names them (``*_ct.nii.gz`` +
``*_seg-vert_msk.nii.gz``, see ``scorekit.data.verse``) is read as one 3D sample per vertebra:
a cube around it (``VERTEBRA_MARGIN_MM`` wider than the vertebra, ``VERTEBRA_SPACING_MM``
voxels, axial slices on axis 0), the vertebra's share of the cube as its volume fraction, and
the scan as its group. CT is windowed to ``CT_WINDOW_HU`` so that every scan shares one
intensity scale. A folder of CT + label map + structure names (``scorekit.data.scanfolder``:
``<case>_ct``, ``<case>_seg``, ``<case>_seg.json``, e.g. TotalSegmentator subjects) is read the
same way, one cube per chosen structure per case (organs: coarser voxels, so that an edge
holds at most ``STRUCTURE_MAX_EDGE``).

A CSV dataset may give the fold in a ``fold`` column. ``fold_splits`` keeps the given folds
where they name an image and places every other patient deterministically.

2D: PNG / JPEG / BMP / TIFF, grey or RGB (converted to grey), and NIfTI / NRRD / MHA files
holding a single slice. 3D: NIfTI / NRRD / MHA volumes.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from scorekit.data.scanfolder import (
    MIN_REGION_ML,
    chosen_regions,
    default_structures,
    is_scan_folder,
    read_scan_case,
    scan_folder_cases,
)
from scorekit.data.verse import is_verse_folder, structure_crops, verse_pairs, vertebra_crops
from scorekit.data.volume import Volume, read_volume
from scorekit.errors import ScoreKitError, not_utf8
from scorekit.registry import PICTURE_SUFFIXES, VOLUME_SUFFIXES


@dataclass(frozen=True)
class Sample:
    name: str
    image: np.ndarray  # float32 in [0, 1]; (H, W) or (D, H, W)
    fraction: float  # ROI area / volume fraction
    mask: np.ndarray | None = None  # bool reference, when known
    weak: np.ndarray | None = None  # bool weak mask, when known
    group: str = ""
    fold: int | None = None  # the dataset's own cross-validation fold, when it gives one
    structure: str = ""  # the named structure a CT cube is centred on ("": not a CT cube)

    @property
    def dims(self) -> int:
        return self.image.ndim


def _is_image_file(path: Path) -> bool:
    return path.name.lower().endswith(PICTURE_SUFFIXES + VOLUME_SUFFIXES)


def read_with_grid(path: str | os.PathLike) -> tuple[np.ndarray, Volume | None]:
    """A 2D (H, W) or 3D (D, H, W) array (single-slice volumes become 2D) and, for volume
    files, the volume itself (its geometry places a predicted mask)."""
    path = Path(path)
    if not path.exists():
        raise ScoreKitError(f"{path}: file not found")
    if path.name.lower().endswith(PICTURE_SUFFIXES):
        try:
            with Image.open(path) as picture:
                return np.asarray(picture.convert("L") if picture.mode not in ("L", "1", "I;16")
                                  else picture), None
        except (UnidentifiedImageError, OSError) as exc:
            raise ScoreKitError(f"{path}: not a readable image ({exc})") from None
    volume = read_volume(path, allow_single_slice=True)
    return (volume.array[0] if volume.array.shape[0] == 1 else volume.array), volume


def read_array(path: str | os.PathLike) -> np.ndarray:
    return read_with_grid(path)[0]


def scale_image(array: np.ndarray, window: list[float] | None = None) -> np.ndarray:
    """To [0, 1]: by a fixed intensity ``window`` (low, high) where given, else 8-bit
    pictures by 255 and anything else by its 0.5–99.5 percentiles."""
    if window is not None:
        low, high = window
        return np.clip((array.astype(np.float32) - low) / (high - low), 0, 1)
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    low, high = np.percentile(array, [0.5, 99.5])
    return np.clip((array.astype(np.float32) - low) / max(high - low, 1e-6), 0, 1)


def read_mask(path: str | os.PathLike, shape: tuple[int, ...], what: str) -> np.ndarray:
    mask = read_array(path) > 0
    if mask.shape != shape:
        raise ScoreKitError(f"{path}: {what} is {'x'.join(map(str, mask.shape))} but its "
                            f"image is {'x'.join(map(str, shape))}")
    return mask


def load_sample(image_path: Path, mask_path: Path | None = None, fraction: float | None = None,
                weak_path: Path | None = None, group: str = "", fold: int | None = None
                ) -> Sample:
    image = read_array(image_path)
    if image.ndim not in (2, 3):
        raise ScoreKitError(f"{image_path}: expected a 2D image or a 3D volume")
    mask = read_mask(mask_path, image.shape, "mask") if mask_path else None
    weak = read_mask(weak_path, image.shape, "weak mask") if weak_path else None
    if fraction is None:
        if mask is None:
            raise ScoreKitError(f"{image_path}: neither a mask nor a fraction is given")
        fraction = float(mask.mean())
    if not 0.0 <= fraction <= 1.0:
        raise ScoreKitError(f"{image_path}: ROI fraction {fraction} is outside [0, 1]")
    if weak is not None and not weak.any():
        raise ScoreKitError(f"{weak_path}: weak mask is empty")
    name = image_path.name
    return Sample(name, scale_image(image), fraction, mask, weak, group or name, fold)


def read_dataset(path: str | os.PathLike, structures: list[str] | None = None
                 ) -> list[Sample]:
    """``structures``: which structures of a folder of CT + label map + names become cubes
    (default: those at least two of its cases name)."""
    path = Path(path)
    if structures and not is_scan_folder(path):
        raise ScoreKitError(f"{path}: structures are chosen by name in a folder of CT + "
                            "label map + names (<case>_ct, <case>_seg, <case>_seg.json)")
    if path.is_file() and path.suffix.lower() == ".csv":
        samples = _read_csv(path)
    elif is_scan_folder(path):
        samples = _read_structures(path, structures)
    elif is_verse_folder(path):
        samples = _read_vertebrae(path)
    elif path.is_dir():
        samples = _read_folder(path)
    else:
        raise ScoreKitError(f"{path}: expected a CSV file or a folder with images/ and masks/")
    if not samples:
        raise ScoreKitError(f"{path}: no image found")
    dims = {s.dims for s in samples}
    if len(dims) > 1:
        raise ScoreKitError(f"{path}: mixes 2D images and 3D volumes")
    return samples


def _csv_rows(path: Path) -> list[dict]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return list(csv.DictReader(f))
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from None


def _read_csv(path: Path) -> list[Sample]:
    rows = _csv_rows(path)
    if rows and "image" not in rows[0]:
        raise ScoreKitError(f"{path}: needs an 'image' column (has {', '.join(rows[0])})")
    def optional(row: dict, column: str) -> Path | None:
        value = (row.get(column) or "").strip()
        return path.parent / value if value else None

    samples = []
    for line, row in enumerate(rows, start=2):
        try:
            fraction = float(row["fraction"]) if (row.get("fraction") or "").strip() else None
        except ValueError:
            raise ScoreKitError(f"{path} line {line}: fraction '{row['fraction']}' is not a "
                                "number") from None
        samples.append(load_sample(path.parent / row["image"].strip(), optional(row, "mask"),
                                   fraction, optional(row, "weak_mask"),
                                   (row.get("group") or "").strip(),
                                   _fold_number(row.get("fold"), f"{path} line {line}")))
    return samples


def _fold_number(value: str | None, where: str) -> int | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ScoreKitError(f"{where}: fold '{value}' is not a whole number") from None


FOLD_COLUMNS = ("ID", "kFold")  # a folder's fold file: image stem, fold (BUS-BRA's columns)


def _folder_folds(folder: Path) -> dict[str, int]:
    """Image stem → fold, from the folder's CSV files that have ``FOLD_COLUMNS``."""
    folds = {}
    for table in sorted(folder.glob("*.csv")):
        rows = _csv_rows(table)
        if not rows or not set(FOLD_COLUMNS) <= set(rows[0]):
            continue
        for line, row in enumerate(rows, start=2):
            fold = _fold_number(row[FOLD_COLUMNS[1]], f"{table} line {line}")
            if fold is not None:
                folds[row[FOLD_COLUMNS[0]].strip()] = fold
    return folds


def image_files(path: str | os.PathLike) -> list[Path]:
    """The image files of a dataset (CSV or folder with ``images/``) or of a plain folder."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".csv":
        rows = _csv_rows(path)
        if rows and "image" not in rows[0]:
            raise ScoreKitError(f"{path}: needs an 'image' column (has {', '.join(rows[0])})")
        files = [path.parent / r["image"].strip() for r in rows]
    elif path.is_dir():
        inner = next((c for c in path.iterdir() if c.is_dir() and c.name.lower() == "images"),
                     path)
        files = sorted(p for p in inner.iterdir() if _is_image_file(p))
    else:
        raise ScoreKitError(f"{path}: expected a CSV file or a folder of images")
    if not files:
        raise ScoreKitError(f"{path}: no image found")
    return files


def _child(folder: Path, name: str) -> Path:
    for child in folder.iterdir():
        if child.is_dir() and child.name.lower() == name:
            return child
    raise ScoreKitError(f"{folder}: no {name}/ folder")


def _pair_key(name: str) -> str:
    return name.split("_", 1)[1] if "_" in name else name


def _read_folder(folder: Path) -> list[Sample]:
    images = sorted(p for p in _child(folder, "images").iterdir() if _is_image_file(p))
    masks = {p.name: p for p in _child(folder, "masks").iterdir() if _is_image_file(p)}
    by_key = {_pair_key(name): p for name, p in masks.items()}
    folds = _folder_folds(folder)
    samples = []
    for image in images:
        mask = masks.get(image.name) or by_key.get(_pair_key(image.name))
        if mask is None:
            raise ScoreKitError(f"{image}: no mask with the same name in {folder}/masks")
        stem = _pair_key(image.name).split(".")[0]
        samples.append(load_sample(image, mask, group=stem.rsplit("-", 1)[0],
                                   fold=folds.get(image.name.split(".")[0])))
    return samples


VERTEBRA_MARGIN_MM = 10.0
VERTEBRA_SPACING_MM = 1.0
CT_WINDOW_HU = (-200.0, 1300.0)  # soft tissue to dense cortical bone


STRUCTURE_MAX_EDGE = 128  # voxels along a structure cube's edge (coarser than 1 mm beyond)


def intensity_window(path: str | os.PathLike) -> list[float] | None:
    """The fixed intensity window a dataset's images are scaled by (None: per image)."""
    path = Path(path)
    return list(CT_WINDOW_HU) if is_scan_folder(path) or is_verse_folder(path) else None


def _read_structures(folder: Path, structures: list[str] | None) -> list[Sample]:
    """One cube per chosen structure per case, as for vertebrae (``structure_crops``)."""
    chosen = set(structures) if structures else default_structures(folder, None)
    samples, seen = [], set()
    for case, ct, seg in scan_folder_cases(folder):
        image, labels = read_scan_case(ct, seg)
        names = sorted(chosen_regions(labels, chosen).values())
        seen.update(names)
        for name, cube, inside in structure_crops(image, labels, names, VERTEBRA_MARGIN_MM,
                                                  VERTEBRA_SPACING_MM, STRUCTURE_MAX_EDGE):
            samples.append(Sample(f"{case}-{name}", scale_image(cube.array, CT_WINDOW_HU),
                                  float(inside.mean()), inside, group=case, structure=name))
    missing = sorted(chosen - seen)
    if structures and missing:
        raise ScoreKitError(f"{folder}: no case shows {', '.join(missing)} "
                            f"(at least {MIN_REGION_ML:g} mL)")
    return samples


def _read_vertebrae(folder: Path) -> list[Sample]:
    samples = []
    for scan, ct, mask in verse_pairs(folder):
        for vertebra, cube, inside in vertebra_crops(ct, mask, VERTEBRA_MARGIN_MM,
                                                     VERTEBRA_SPACING_MM):
            samples.append(Sample(f"{scan}-{vertebra}", scale_image(cube.array, CT_WINDOW_HU),
                                  float(inside.mean()), inside, group=scan,
                                  structure=vertebra))
    return samples


def with_weak_masks(samples: list[Sample], size: float) -> list[Sample]:
    """Weak masks of ``size`` × ROI made from each reference mask (see weakmask.py)."""
    from scorekit.weakstat.weakmask import weak_mask_from_reference

    out = []
    for sample in samples:
        if sample.mask is None or not sample.mask.any():
            raise ScoreKitError(f"{sample.name}: a weak mask of size {size} needs a non-empty "
                                "reference mask")
        out.append(replace(sample, weak=weak_mask_from_reference(sample.mask, size)))
    return out


def split_by_group(samples: list[Sample], test_fraction: float, seed: int
                   ) -> tuple[list[Sample], list[Sample]]:
    """A random split of whole groups, about ``test_fraction`` of the samples to test."""
    groups = sorted({s.group for s in samples})
    rng = np.random.default_rng(seed)
    rng.shuffle(groups)
    test_groups, count = set(), 0
    for group in groups:
        if count >= test_fraction * len(samples):
            break
        test_groups.add(group)
        count += sum(s.group == group for s in samples)
    return ([s for s in samples if s.group not in test_groups],
            [s for s in samples if s.group in test_groups])


def fold_splits(samples: list[Sample], k: int, seed: int = 0
                ) -> list[tuple[list[Sample], list[Sample]]]:
    """K (training, test) splits, each test set one fold; no patient (group) is in two folds.

    Where the dataset names ``k`` folds (its ``fold`` column or fold file), an image it places
    keeps that fold; a patient split across given folds is refused. Every other patient goes,
    in a seeded shuffle of the sorted group names, to the fold holding the fewest images.
    """
    if k < 2:
        raise ScoreKitError(f"cross-validation needs at least 2 folds (got {k})")
    groups = sorted({s.group for s in samples})
    if len(groups) < k:
        raise ScoreKitError(f"{k} folds need at least {k} patients; the data has {len(groups)}")
    fold_of = _given_folds(samples, k)
    sizes = [0] * k
    for s in samples:
        if s.group in fold_of:
            sizes[fold_of[s.group]] += 1
    rest = [g for g in groups if g not in fold_of]
    np.random.default_rng(seed).shuffle(rest)
    for group in rest:
        fold_of[group] = int(np.argmin(sizes))
        sizes[fold_of[group]] += sum(s.group == group for s in samples)
    return [([s for s in samples if fold_of[s.group] != f],
             [s for s in samples if fold_of[s.group] == f]) for f in range(k)]


def _given_folds(samples: list[Sample], k: int) -> dict[str, int]:
    """Group → fold index (0-based) from the dataset's folds, when it names exactly ``k``."""
    given = sorted({s.fold for s in samples if s.fold is not None})
    if len(given) != k:
        return {}
    index = {fold: i for i, fold in enumerate(given)}
    fold_of = {}
    for s in samples:
        if s.fold is None:
            continue
        if fold_of.setdefault(s.group, index[s.fold]) != index[s.fold]:
            raise ScoreKitError(f"{s.name}: its fold {s.fold} splits patient '{s.group}' across "
                                "folds (a patient's images must share one fold)")
    return fold_of


def largest_roi_slice(mask: np.ndarray) -> int:
    """The index of a volume's axial slice (axis 0) holding the most ROI."""
    return int(np.argmax(mask.reshape(len(mask), -1).sum(axis=1)))


def largest_roi_slices(samples: list[Sample]) -> list[Sample]:
    """The paper's 2D protocol for volumes: each volume's axial slice with the largest ROI."""
    out = []
    for s in samples:
        if s.mask is None:
            raise ScoreKitError(f"{s.name}: taking the largest-ROI slice needs a mask")
        z = largest_roi_slice(s.mask)
        out.append(replace(s, image=s.image[z], mask=s.mask[z], fraction=float(s.mask[z].mean()),
                           weak=None if s.weak is None else s.weak[z], name=f"{s.name}[z={z}]"))
    return out
