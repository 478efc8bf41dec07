"""A workspace: one folder holding cases, their ratings, trained models and outputs.

Layout::

    W/workspace.json                     marks the folder as a workspace
    W/cases/<case>/image.nii.gz          the CT
    W/cases/<case>/initial.seg.nrrd      the automatic segmentation to be rated / refined
    W/cases/<case>/reference.seg.nrrd    optional reference (ground truth) segmentation
    W/cases/<case>/case.json             region names and provenance
    W/ratings.sqlite                     all ratings (see ratingstore.py; earlier
                                         versions: ratings.json, migrated on first use)
    W/models/, W/outputs/

Segmentations are ``.seg.nrrd`` so that a case folder opens in Slicer with names and
colours. Every file is written atomically; ``case.json`` is written last, so a case whose
``case.json`` exists is complete.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from scorekit.data.atomic import write_text_atomic
from scorekit.data.labelmap import LabelMap
from scorekit.data.labels import read_labelmap, resample_labelmap, write_labelmap
from scorekit.data.ratingstore import RatingStore
from scorekit.data.volume import Geometry, Volume, read_geometry, read_volume, write_volume
from scorekit.errors import ScoreKitError
from scorekit.registry import CASE_ID

MARKER = "workspace.json"
IMAGE, INITIAL, REFERENCE, CASE_INFO = ("image.nii.gz", "initial.seg.nrrd", "reference.seg.nrrd",
                                        "case.json")
RATINGS, LEGACY_RATINGS = "ratings.sqlite", "ratings.json"


@dataclass(frozen=True)
class Case:
    """Paths and region names of one case; loads its files on demand."""

    id: str
    folder: Path
    regions: list[str]
    info: dict

    @property
    def image_path(self) -> Path:
        return self.folder / IMAGE

    @property
    def initial_path(self) -> Path:
        return self.folder / INITIAL

    @property
    def reference_path(self) -> Path:
        return self.folder / REFERENCE

    @property
    def has_reference(self) -> bool:
        return self.reference_path.exists()

    def geometry(self) -> Geometry:
        """The image's grid, from its header alone."""
        return read_geometry(self.image_path)

    def spacing(self) -> tuple[float, float, float]:
        """The image's voxel size (x, y, z) mm, from its header alone."""
        return self.geometry().spacing

    def image(self) -> Volume:
        return read_volume(self.image_path)

    def initial(self) -> LabelMap:
        return read_labelmap(self.initial_path, allow_empty=True)

    def reference(self) -> LabelMap | None:
        return read_labelmap(self.reference_path, allow_empty=True) if self.has_reference \
            else None


class Workspace:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not (self.path / MARKER).exists():
            raise ScoreKitError(f"{self.path}: not a scorekit workspace (no {MARKER}); "
                                "create one with `scorekit phantom` or Workspace.create")
        self.ratings = RatingStore(self.path / RATINGS, self.regions_of,
                                   legacy=self.path / LEGACY_RATINGS)

    @classmethod
    def create(cls, path: str | os.PathLike, exist_ok: bool = True) -> Workspace:
        path = Path(path)
        if (path / MARKER).exists():
            if not exist_ok:
                raise ScoreKitError(f"{path}: workspace already exists")
        elif path.exists() and any(path.iterdir()):
            raise ScoreKitError(f"{path}: folder is not empty and is not a workspace")
        else:
            write_text_atomic(path / MARKER, json.dumps({"format": "scorekit-workspace",
                                                         "version": 1}) + "\n")
        return cls(path)

    def case_ids(self) -> list[str]:
        cases = self.path / "cases"
        if not cases.exists():
            return []
        return sorted(p.name for p in cases.iterdir()
                      if CASE_ID.match(p.name) and (p / CASE_INFO).exists())

    def case(self, case_id: str) -> Case:
        folder = self.path / "cases" / case_id
        if not CASE_ID.match(case_id) or not (folder / CASE_INFO).exists():
            raise ScoreKitError(f"case '{case_id}': not in workspace {self.path}")
        path = folder / CASE_INFO
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ScoreKitError(f"{path}: not valid JSON ({exc})") from None
        regions = info.get("regions") if isinstance(info, dict) else None
        if not isinstance(regions, list) or not all(isinstance(r, str) for r in regions):
            raise ScoreKitError(f"{path}: field 'regions' is missing or not a list of names")
        return Case(case_id, folder, list(regions), info)

    def cases(self) -> list[Case]:
        return [self.case(c) for c in self.case_ids()]

    def regions_of(self, case_id: str) -> list[str]:
        return self.case(case_id).regions

    def add_case(self, case_id: str, image: Volume, initial: LabelMap,
                 reference: LabelMap | None = None, **info) -> Case:
        """Copy a case in, whole or not at all: everything is checked, then written into a
        hidden folder that is renamed into place. Segmentations on another grid are
        resampled onto the image's."""
        if not CASE_ID.match(case_id):
            raise ScoreKitError(f"case '{case_id}': id must be letters, digits, '_', '-', '.'")
        folder = self.path / "cases" / case_id
        if (folder / CASE_INFO).exists():
            raise ScoreKitError(f"case '{case_id}': already in workspace {self.path}")
        initial = _on_grid(initial, image, f"case '{case_id}' initial segmentation "
                                           f"{info.get('initial_source', '')}".rstrip())
        if not initial.regions:
            raise ScoreKitError(f"case '{case_id}': initial segmentation has no region")
        if reference is not None:
            reference = _on_grid(reference, image, f"case '{case_id}' reference segmentation "
                                               f"{info.get('reference_source', '')}".rstrip())
        staging = folder.with_name(f".adding-{case_id}-{secrets.token_hex(4)}")
        staging.mkdir(parents=True)
        try:
            write_volume(image, staging / IMAGE)
            write_labelmap(initial, staging / INITIAL)
            if reference is not None:
                write_labelmap(reference, staging / REFERENCE)
            record = {"regions": initial.names, **info}
            write_text_atomic(staging / CASE_INFO, json.dumps(record, indent=1) + "\n")
            if folder.exists():  # an incomplete folder left by an older version: not a case
                shutil.rmtree(folder)
            os.replace(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return self.case(case_id)


def _on_grid(labels: LabelMap, image: Volume, source: str) -> LabelMap:
    if labels.geometry.matches(image.geometry):
        return labels
    return resample_labelmap(labels, image.geometry, source)
