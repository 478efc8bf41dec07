"""Your own scans into a workspace (``scorekit workspace add``): images with their initial
segmentation, from files, folders or an initial segmenter.

An image is a volume file (NIfTI, NRRD, MHA) or a DICOM series folder. Its initial
segmentation is, in this order: the one given; the one paired by name in a segmentation
folder; or an engine's (TotalSegmentator, thresholds) run on it. A segmentation is read as
TotalSegmentator writes them: a multilabel file (names from a ``.seg.nrrd``, a JSON sidecar
or a class map) or a folder of one mask per structure (``humerus_left.nii.gz``, ...; the
file name is the region name).

Pairing by name: file suffixes and a trailing role word are set aside, so
``sub-verse005_ct.nii.gz`` pairs with ``sub-verse005_seg-vert_msk.nii.gz`` and with a
folder ``sub-verse005/``; a DICOM folder ``case7/`` pairs with ``case7.nii.gz``. Every case
is checked before it is written and written whole (``Workspace.add_case``); a case that
fails is named and the others go on; a case already in the workspace is left as it is, so
running the same command again adds only what is new.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scorekit.data.labelmap import LabelMap
from scorekit.data.labels import file_stem, read_labelmap, resample_labelmap
from scorekit.data.volume import read_volume
from scorekit.data.workspace import Workspace
from scorekit.errors import ScoreKitError
from scorekit.progress import Progress, Silent
from scorekit.registry import CASE_ID, VOLUME_SUFFIXES, case_id_from_name

IMAGE_ROLE = re.compile(r"[_-](ct|image|img|0000)$", re.IGNORECASE)
SEGMENTATION_ROLE = re.compile(r"[_-](seg|segmentation|mask|msk|labels?)([_-].*)?$",
                               re.IGNORECASE)


@dataclass(frozen=True)
class CaseFiles:
    """Where one case's files are; ``segmentation`` None: run an engine on the image."""

    id: str
    image: Path
    segmentation: Path | None = None
    reference: Path | None = None


@dataclass
class IntakeReport:
    added: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)  # already in the workspace
    failed: dict[str, str] = field(default_factory=dict)  # case → the one-line reason


def is_dicom_folder(path: Path) -> bool:
    return path.is_dir() and any(p.is_file() and not p.name.endswith(VOLUME_SUFFIXES)
                                 for p in path.iterdir())


def image_inputs(folder: Path) -> list[Path]:
    """Volume files and DICOM series folders directly in ``folder``, sorted by name."""
    if not folder.is_dir():
        raise ScoreKitError(f"{folder}: not a folder")
    return sorted(p for p in folder.iterdir()
                  if (p.is_file() and p.name.endswith(VOLUME_SUFFIXES)
                      and not p.name.endswith(".seg.nrrd")) or is_dicom_folder(p))


def segmentation_inputs(folder: Path) -> list[Path]:
    """Label maps and per-structure mask folders directly in ``folder``."""
    if not folder.is_dir():
        raise ScoreKitError(f"{folder}: not a folder")
    return sorted(p for p in folder.iterdir()
                  if (p.is_file() and p.name.endswith(VOLUME_SUFFIXES)) or p.is_dir())


def pairing_key(path: Path, role: re.Pattern) -> str:
    return role.sub("", file_stem(path))


def case_files_in(images: Path, segmentations: Path | None = None,
                  references: Path | None = None) -> list[CaseFiles]:
    """One :class:`CaseFiles` per image in ``images``, its segmentation and reference paired
    by name; an image without a segmentation (when a folder is given) is refused by name."""
    segs = _by_key(segmentations, SEGMENTATION_ROLE) if segmentations else {}
    refs = _by_key(references, SEGMENTATION_ROLE) if references else {}
    cases, seen = [], {}
    for image in image_inputs(images):
        key = pairing_key(image, IMAGE_ROLE)
        case_id = case_id_from_name(key)
        if case_id in seen:
            raise ScoreKitError(f"{image}: gives case id '{case_id}' as {seen[case_id]} does")
        seen[case_id] = image.name
        if segmentations and key not in segs:
            raise ScoreKitError(f"{image}: no segmentation named after it in {segmentations}")
        cases.append(CaseFiles(case_id, image, segs.get(key), refs.get(key)))
    if not cases:
        raise ScoreKitError(f"{images}: holds no volume file or DICOM folder")
    return cases


def _by_key(folder: Path, role: re.Pattern) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in segmentation_inputs(folder):
        key = pairing_key(path, role)
        if key in found:
            raise ScoreKitError(f"{path}: pairs with the same image as {found[key].name}")
        found[key] = path
    return found


def read_segmentation(path: Path, names: dict[int, str] | None = None,
                      structures: list[str] | None = None) -> LabelMap:
    """A multilabel file, or a folder of one mask per structure, as a label map; with
    ``structures``, those regions only (each must be there)."""
    labels = _mask_folder(path, structures) if path.is_dir() else read_labelmap(path, names)
    if structures:
        missing = [s for s in structures if s not in labels.names]
        if missing:
            raise ScoreKitError(f"{path}: has no region {', '.join(missing)} (it has "
                                f"{', '.join(labels.names)})")
        keep = {v: n for v, n in labels.regions.items() if n in structures}
        array = np.where(np.isin(labels.array, list(keep)), labels.array, 0)
        labels = LabelMap(array.astype(labels.array.dtype), labels.geometry, regions=keep,
                          colors={v: c for v, c in labels.colors.items() if v in keep})
    return labels


def _mask_folder(folder: Path, structures: list[str] | None) -> LabelMap:
    """TotalSegmentator's one-mask-per-structure output: the file name is the region."""
    files = {file_stem(p): p for p in sorted(folder.iterdir())
             if p.is_file() and p.name.endswith(VOLUME_SUFFIXES)}
    if structures:
        files = {name: files[name] for name in structures if name in files}
    if not files:
        raise ScoreKitError(f"{folder}: holds no mask file")
    masks, grid = {}, None
    for name, path in files.items():
        mask = read_labelmap(path, allow_empty=True)
        if grid is None:
            grid = mask.geometry
        elif not mask.geometry.matches(grid):
            mask = resample_labelmap(mask, grid, str(path))
        if mask.array.any():
            masks[name] = mask.array > 0
    if not masks:
        raise ScoreKitError(f"{folder}: every mask is empty")
    return LabelMap.from_masks(masks, grid)


def add_cases(workspace: str | os.PathLike, cases: list[CaseFiles],
              names: dict[int, str] | None = None, structures: list[str] | None = None,
              engine: str | None = None, fast: bool = False, device: str = "auto",
              skip_present: bool = True, progress: Progress | None = None) -> IntakeReport:
    """Add ``cases`` to ``workspace`` (created if needed); see the module doc. With
    ``skip_present`` False a case id already there is a failure, not a skip."""
    progress = progress or Silent()
    new = not Path(workspace).exists()
    ws = Workspace.create(workspace)
    report = IntakeReport()
    progress.start("add", len(cases), unit="case")
    for files in cases:
        if skip_present and files.id in ws.case_ids():
            report.present.append(files.id)
        else:
            try:
                _add(ws, files, names, structures, engine, fast, device)
                report.added.append(files.id)
            except ScoreKitError as error:
                report.failed[files.id] = str(error)
                progress.log(f"case '{files.id}': {error}")
        progress.advance()
    progress.close()
    if new and not report.added:  # nothing came in: leave no empty workspace behind
        shutil.rmtree(ws.path)
    return report


def _add(ws: Workspace, files: CaseFiles, names, structures, engine, fast, device) -> None:
    if not CASE_ID.match(files.id):
        raise ScoreKitError(f"case '{files.id}': id must be letters, digits, '_', '-', '.'")
    image = read_volume(files.image)
    initial, provenance = initial_segmentation(files, names, structures, engine, fast, device)
    reference = None if files.reference is None else read_segmentation(files.reference, names,
                                                                        structures)
    sources = {"image_source": str(files.image), "initial_source": provenance}
    if files.reference is not None:
        sources["reference_source"] = str(files.reference)
    ws.add_case(files.id, image, initial, reference, **sources)


def initial_segmentation(files: CaseFiles, names=None, structures=None, engine=None,
                         fast: bool = False, device: str = "auto") -> tuple[LabelMap, str]:
    """The case's initial segmentation, read or made by an engine, and where it came from."""
    if files.segmentation is not None:
        initial, provenance = read_segmentation(files.segmentation, names, structures), \
            str(files.segmentation)
    else:
        from scorekit.initial.segment import default_engine, segment

        engine = engine or default_engine()
        initial, _ = segment(files.image, structures, engine=engine, fast=fast, device=device)
        provenance = f"engine {engine}"
    if not initial.array.any():
        raise ScoreKitError(f"{files.segmentation or files.image}: no region found")
    return initial, provenance


def rating_progress(ws: Workspace) -> list[dict]:
    """Per case: its regions and, per rater, how many of them that rater has rated (the
    store holds ratings of a case's regions only: it validates each)."""
    counts = ws.ratings.counts()
    raters = sorted({rater for _, rater in counts})
    return [{"case": case.id, "regions": case.regions,
             "rated": {rater: counts.get((case.id, rater), 0) for rater in raters}}
            for case in ws.cases()]
