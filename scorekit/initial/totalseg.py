"""TotalSegmentator (task ``total``) as the initial segmenter, through its Python API.

Before anything runs, the weights it will need are checked: the dataset folders of the
``total`` parts holding the requested structures (or the 3 mm model with ``fast``), and
the 6 mm model it uses to crop when only some structures are asked for. Missing weights
stop the run at once with what is missing and how to get it, instead of a download
attempt and a network traceback. Its anonymous usage statistics upload is switched off.

Works with TotalSegmentator 2.13 (what Slicer's TotalSegmentator extension installs) and
later; an older one is refused with the upgrade to run. Before 2.17 TotalSegmentator has no
table of task ids and weights folders, so the ``total`` task's are listed here.
"""

from __future__ import annotations

import contextlib
import difflib
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from scorekit.data.labelmap import LabelMap
from scorekit.data.labels import as_labelmap, resample_labelmap
from scorekit.data.volume import Volume
from scorekit.errors import WEIGHTS_MISSING, ScoreKitError
from scorekit.initial.threshold import check_ct
from scorekit.progress import Progress, Silent

TASK = "total"
CROP_TASK_ID = 298  # 6 mm model that finds the region of interest for roi_subset
MINIMUM_VERSION = (2, 13)  # pyproject's "totalseg" extra says the same
UPGRADE = "pip install --upgrade 'TotalSegmentator>=2.13'"
# The ``total`` task's models before 2.17 made these public (same folders since 2.0).
LEGACY_TASK_IDS = {False: [291, 292, 293, 294, 295], True: [297]}
LEGACY_FOLDERS = {
    291: "Dataset291_TotalSegmentator_part1_organs_1559subj",
    292: "Dataset292_TotalSegmentator_part2_vertebrae_1532subj",
    293: "Dataset293_TotalSegmentator_part3_cardiac_1559subj",
    294: "Dataset294_TotalSegmentator_part4_muscles_1559subj",
    295: "Dataset295_TotalSegmentator_part5_ribs_1559subj",
    297: "Dataset297_TotalSegmentator_total_3mm_1559subj",
    298: "Dataset298_TotalSegmentator_total_6mm_1559subj",
}


def installed_version() -> tuple[int, ...] | None:
    """The installed TotalSegmentator's (major, minor, ...), None when it is absent."""
    try:
        text = metadata.version("TotalSegmentator")
    except metadata.PackageNotFoundError:
        return None
    return tuple(int(p) for p in text.split("+")[0].split(".")[:3] if p.isdigit())


def _package():
    version = installed_version()
    try:
        import totalsegmentator  # noqa: F401
    except ImportError:
        version = None
    if version is None:
        raise ScoreKitError("TotalSegmentator is not installed: pip install "
                            "'scorekit[totalseg]', or use the threshold engine")
    if version < MINIMUM_VERSION:
        have = ".".join(map(str, version))
        raise ScoreKitError(f"TotalSegmentator {have} is too old (2.13 or later needed): "
                            f"{UPGRADE}")


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


def class_names() -> list[str]:
    return list(class_map_names(TASK).values())


def validate_structures(structures: list[str]) -> list[str]:
    """Refuse names that are not classes of the ``total`` task, suggesting close ones."""
    known = class_names()
    for name in structures:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ScoreKitError(f"'{name}' is not a TotalSegmentator '{TASK}' class{hint}")
    return structures


def snomed_codes() -> dict[str, dict[str, tuple[str, str, str]]]:
    """TotalSegmentator's own map of its classes to DICOM / SNOMED codes (a CSV in its
    package): class name → {"category" | "type" | "type_modifier" | "region" |
    "region_modifier": (scheme, value, meaning)}; empty when TotalSegmentator is absent."""
    import csv
    import importlib.util

    spec = importlib.util.find_spec("totalsegmentator")
    if spec is None or spec.origin is None:
        return {}
    table = Path(spec.origin).parent / "resources" / "totalsegmentator_snomed_mapping.csv"
    if not table.is_file():
        return {}
    columns = {"category": "SegmentedPropertyCategoryCodeSequence",
               "type": "SegmentedPropertyTypeCodeSequence",
               "type_modifier": "SegmentedPropertyTypeModifierCodeSequence",
               "region": "AnatomicRegionSequence",
               "region_modifier": "AnatomicRegionModifierSequence"}
    with open(table, newline="", encoding="utf-8") as f:
        return {row["Structure"]: {key: tuple(row.get(f"{column}.{part}") or "" for part in
                                              ("CodingSchemeDesignator", "CodeValue",
                                               "CodeMeaning"))
                                   for key, column in columns.items()}
                for row in csv.DictReader(f)}


@dataclass(frozen=True)
class WeightsFolder:
    task_id: int
    path: Path

    @property
    def present(self) -> bool:
        """A folder holding at least one trained checkpoint (not an interrupted unzip)."""
        return self.path.is_dir() and any(self.path.rglob("checkpoint_final.pth"))


def weights_dir() -> Path:
    """``$TOTALSEG_WEIGHTS_PATH``, else TotalSegmentator's home (``~/.totalsegmentator``)."""
    _package()
    from totalsegmentator.config import get_weights_dir

    return Path(get_weights_dir())


def required_weights(structures: list[str] | None, fast: bool) -> list[WeightsFolder]:
    """The dataset folders a run with these options will load."""
    _package()
    from totalsegmentator.map_to_binary import class_map_5_parts, map_taskid_to_partname_ct

    task_ids = task_ids_of(fast)
    if structures and not fast:  # only the parts that hold a requested class are run
        wanted = set(structures)
        task_ids = [t for t in task_ids
                    if wanted & set(class_map_5_parts[map_taskid_to_partname_ct[t]].values())]
    if structures:
        task_ids.append(CROP_TASK_ID)
    root = weights_dir()
    return [WeightsFolder(tid, root / folder_of(tid)) for tid in task_ids]


def task_ids_of(fast: bool) -> list[int]:
    """The ``total`` task's model ids (TotalSegmentator's own table from 2.17 on)."""
    try:
        from totalsegmentator.python_api import get_task_config
    except ImportError:
        return list(LEGACY_TASK_IDS[fast])
    task_ids = get_task_config(TASK, fast=fast, quiet=True)["task_id"]
    return list(task_ids) if isinstance(task_ids, list) else [task_ids]


def folder_of(task_id: int) -> Path:
    """A model's weights folder, relative to the weights root."""
    try:
        from totalsegmentator.libs import TASK_ID_WEIGHTS_CONFIGS
    except ImportError:
        return Path(LEGACY_FOLDERS[task_id])
    info = TASK_ID_WEIGHTS_CONFIGS[task_id]
    return Path(info.get("rel_path") or "") / info["foldername"]


OFFLINE = ("offline: copy a weights folder from a machine that has them and set "
           "TOTALSEG_WEIGHTS_PATH to it")


def check_weights(structures: list[str] | None, fast: bool) -> None:
    missing = [w for w in required_weights(structures, fast) if not w.present]
    if missing:
        ids = " ".join(str(w.task_id) for w in missing)
        raise ScoreKitError(
            f"{WEIGHTS_MISSING} in {weights_dir()}: "
            f"{', '.join(w.path.name for w in missing)} (task ids {ids}). Online: run "
            f"`scorekit download-weights{' --fast' if fast else ''}` (SCORERefine offers it); "
            f"{OFFLINE}")


def download_weights(structures: list[str] | None, fast: bool,
                     progress: Progress | None = None) -> list[WeightsFolder]:
    """Fetch the weights a run with these options needs and lacks, with TotalSegmentator's
    own download function; returns what was fetched."""
    _package()
    from totalsegmentator.libs import download_pretrained_weights

    if structures:
        validate_structures(structures)
    missing = [w for w in required_weights(structures, fast) if not w.present]
    progress = progress or Silent()
    progress.start("download", len(missing), unit="model")
    try:  # the bar ends its line before any error is printed
        for folder in missing:
            _download(folder, download_pretrained_weights)
            progress.advance()
    finally:
        progress.close()
    return missing


def _download(folder: WeightsFolder, fetch) -> None:
    """One model's weights, or an error with nothing left behind: the folders the attempt
    made (the weights root included) are removed again."""
    made = [p for p in (folder.path, *folder.path.parents) if not p.exists()]  # deepest first
    try:
        fetch(folder.task_id)
        if not folder.present:
            raise ScoreKitError(f"{folder.path}: the download left no checkpoint; {OFFLINE}")
    except Exception as error:  # requests' and zipfile's errors: one line, not a trace
        if made:
            shutil.rmtree(made[0], ignore_errors=True)
        for empty in made[1:]:
            with contextlib.suppress(OSError):
                empty.rmdir()
        if isinstance(error, ScoreKitError):
            raise
        raise ScoreKitError(f"could not download TotalSegmentator weights {folder.path.name} "
                            f"(task {folder.task_id}): {type(error).__name__}; {OFFLINE}"
                            ) from None


def totalseg_device(device: str) -> str:
    """scorekit's ``auto|cpu|cuda[:N]`` → TotalSegmentator's ``cpu|gpu[:N]``."""
    if device == "auto":
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    return device.replace("cuda", "gpu")


def run_totalsegmentator(image: Volume, structures: list[str] | None, source: str = "image",
                         fast: bool = False, device: str = "auto", quiet: bool = True
                         ) -> LabelMap:
    """The registered engine: segment ``image`` (read from ``source``); the result is on the
    image's grid, named after the classes."""
    check_ct(image, source)
    if structures:
        validate_structures(structures)
    check_weights(structures, fast)
    from totalsegmentator.config import set_config_key, setup_totalseg
    from totalsegmentator.python_api import totalsegmentator

    setup_totalseg()
    set_config_key("send_usage_stats", False)
    set_config_key("statistics_disclaimer_shown", True)  # nothing is sent, nothing to say
    with tempfile.TemporaryDirectory(prefix="scorekit-totalseg-") as work:
        source, target = Path(work) / "ct.nii.gz", Path(work) / "seg.nii.gz"
        sitk.WriteImage(image.to_sitk(), str(source))
        try:
            result = totalsegmentator(source, None, ml=True, task=TASK, roi_subset=structures,
                                      fast=fast, device=totalseg_device(device), quiet=quiet)
            result.to_filename(str(target))
        except Exception as exc:  # TotalSegmentator raises many kinds; report one line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ScoreKitError(f"TotalSegmentator failed: {first}") from exc
        labels = as_labelmap(Volume.from_sitk(sitk.ReadImage(str(target))),
                             class_map_names(TASK), "TotalSegmentator output")
    labels = resample_labelmap(labels, image.geometry, "TotalSegmentator output")
    if structures:
        keep = {v: n for v, n in labels.regions.items() if n in structures}
        array = np.where(np.isin(labels.array, list(keep)), labels.array, 0)
        labels = LabelMap(array, labels.geometry, regions=keep)
    return labels
