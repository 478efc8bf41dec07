"""The refinement benchmark (``scorekit benchmark --suite phantom|verse``): the SCORE
paper's Tables 1 and 2 on data we have.

* ``phantom``: a training workspace of rated humerus phantoms (full field of view) and three
  test sets as in the paper (full humerus, proximal and distal fields of view).
* ``verse``: real CT with manual vertebra masks (``*_ct.nii.gz`` + ``*_seg-vert_msk.nii.gz``
  pairs). Each vertebra is a case (its box plus a margin; region ``vertebra``). Initial
  masks come from the threshold engine's bone mask near the vertebra — a process unlike
  the training augmentation — so the refiner cannot just learn to undo its own corruption:
  above 200 HU, closed, holes filled slice by slice, within 3 mm of the manual mask,
  largest component (it misses low-density trabecular bone and takes in neighbouring
  bone). Ratings are simulated against the manual masks.
  Evaluation is leave-one-scan-out.

Methods: ``initial``, ``Post-DAE``, ``Post-DAE+Scan`` (fully supervised baselines),
``SCORE`` and its ablations. Outputs: ``results.csv`` (method, test_set, case, region,
dice, hd95, train_s, test_s), ``table1.md``, ``table2.md``, ``boxplots.png``,
``overlay.png``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy import ndimage

from scorekit.data.atomic import write_csv_atomic, write_text_atomic
from scorekit.data.labelmap import LabelMap
from scorekit.data.labels import read_labelmap
from scorekit.data.volume import Geometry, Volume, read_volume
from scorekit.data.workspace import Workspace
from scorekit.devices import resolve_device
from scorekit.errors import ScoreKitError
from scorekit.experiments.results import (
    empty_output_folder,
    mean_std,
    read_results,
    significance,
)
from scorekit.initial.threshold import bone_mask
from scorekit.metrics import dice, hd95
from scorekit.progress import Progress, Silent
from scorekit.registry import BENCHMARK_METHODS, SUITES, TABLE1, TABLE2, case_id_from_name
from scorekit.score.model import load_model
from scorekit.score.refine import refine_case
from scorekit.score.trainer import TrainOptions, train
from scorekit.synth import write_phantom_workspace
from scorekit.synth.rater import simulated_rating

COLUMNS = ["method", "test_set", "case", "region", "dice", "hd95", "train_s", "test_s"]
VERSE_NAMES = {**{v: f"C{v}" for v in range(1, 8)}, **{v: f"T{v - 7}" for v in range(8, 20)},
               **{v: f"L{v - 19}" for v in range(20, 26)}, 28: "T13"}


@dataclass(frozen=True)
class RefinementPlan:
    train_cases: int  # phantom suite
    test_cases: int  # per test set (phantom suite)
    steps: int
    patch: int = 64
    phantom: tuple = ()  # extra phantom options as (name, value) pairs
    lr: float = 1e-3  # short CPU runs; the paper's 1e-4 needs far more steps


SMALL = (("size_xy", 96), ("slices", 120), ("spacing", (2.0, 2.0, 2.7)))
REFINEMENT_PLANS = {
    "phantom": {"quick": RefinementPlan(6, 4, 500, 48, SMALL),
                "full": RefinementPlan(8, 4, 1800)},
    "verse": {"quick": RefinementPlan(0, 0, 300, 48), "full": RefinementPlan(0, 0, 1500)},
}


@dataclass(frozen=True)
class Fold:
    """One training workspace and the test workspaces it is scored on."""

    name: str
    training: Workspace
    tests: dict[str, Workspace]


# -- suites ------------------------------------------------------------------------------------
def phantom_folds(out: Path, plan: RefinementPlan, seed: int, progress: Progress) -> list[Fold]:
    options = dict(plan.phantom)
    training = write_phantom_workspace(out / "data" / "training", cases=plan.train_cases,
                                       seed=seed, progress=progress, **options)
    tests = {f"{fov} humerus" if fov == "full" else f"{fov} FOV":
             write_phantom_workspace(out / "data" / f"test-{fov}", cases=plan.test_cases,
                                     seed=seed + 1000, fov=fov, prefix="test",
                                     progress=progress, **options)
             for fov in ("full", "proximal", "distal")}
    return [Fold("phantom", training, tests)]


def verse_pairs(data: Path) -> list[tuple[str, Path, Path]]:
    pairs = []
    for ct in sorted(data.glob("*_ct.nii.gz")):
        scan = ct.name.removesuffix("_ct.nii.gz")
        mask = data / f"{scan}_seg-vert_msk.nii.gz"
        if not mask.exists():
            raise ScoreKitError(f"{ct}: no vertebra mask {mask.name} beside it")
        pairs.append((scan, ct, mask))
    if len(pairs) < 2:
        raise ScoreKitError(f"{data}: needs at least two *_ct.nii.gz + *_seg-vert_msk.nii.gz "
                            "pairs for leave-one-scan-out evaluation")
    return pairs


def crop(volume: Volume, box: tuple[slice, slice, slice]) -> Volume:
    """The part of ``volume`` inside ``box`` (z, y, x), at the same physical place."""
    g = volume.geometry
    start_xyz = np.array([box[2].start, box[1].start, box[0].start], float)
    origin = np.array(g.origin) + np.array(g.direction).reshape(3, 3) @ (
        np.array(g.spacing) * start_xyz)
    array = np.ascontiguousarray(volume.array[box])
    geometry = Geometry(tuple(int(n) for n in array.shape[::-1]), g.spacing,
                        tuple(float(o) for o in origin), g.direction)
    return replace(volume, array=array, geometry=geometry)


def threshold_initial(image: np.ndarray, reference: np.ndarray, spacing_zyx,
                      threshold: float = 200.0, reach_mm: float = 3.0) -> np.ndarray:
    """The verse suite's initial mask (see module doc)."""
    near = ndimage.distance_transform_edt(~reference, sampling=spacing_zyx) <= reach_mm
    mask = bone_mask(image, threshold) & near
    components, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = np.bincount(components.ravel())[1:]
    return components == 1 + int(np.argmax(sizes))


def vertebra_cases(scan: str, ct: Path, mask: Path, margin_mm: float = 10.0):
    """(case id, image crop, initial, reference) per vertebra of one scan."""
    image, labels = read_volume(ct), read_labelmap(mask, allow_empty=True)
    if not labels.geometry.matches(image.geometry):
        raise ScoreKitError(f"{mask}: not on the grid of {ct.name}")
    spacing = image.geometry.spacing_zyx
    for value in sorted(v for v in np.unique(labels.array) if v):
        name = VERSE_NAMES.get(int(value), f"label{int(value)}")
        vertebra = labels.array == value
        box = tuple(slice(max(int(idx.min()) - round(margin_mm / s), 0),
                          min(int(idx.max()) + 1 + round(margin_mm / s), n))
                    for idx, s, n in zip(np.nonzero(vertebra), spacing, vertebra.shape))
        part = crop(image, box)
        reference = vertebra[box]
        initial = threshold_initial(part.array, reference, spacing)
        as_labels = [LabelMap(m.astype(np.uint8), part.geometry, regions={1: "vertebra"})
                     for m in (initial, reference)]
        yield case_id_from_name(f"{scan}_{name}"), part, *as_labels


def verse_folds(data: Path, out: Path, progress: Progress) -> list[Fold]:
    by_scan = {scan: list(vertebra_cases(scan, ct, mask))
               for scan, ct, mask in verse_pairs(data)}
    folds = []
    for held_out in by_scan:
        folder = out / "data" / held_out
        training, test = Workspace.create(folder / "training"), Workspace.create(folder / "test")
        for scan, cases in by_scan.items():
            ws = test if scan == held_out else training
            for case_id, image, initial, reference in cases:
                ws.add_case(case_id, image, initial, reference)
                ws.ratings.put([simulated_rating(case_id, "vertebra",
                                                 reference.array > 0, initial.array > 0)])
        progress.log(f"fold {held_out}: {len(training.case_ids())} training vertebrae, "
                     f"{len(test.case_ids())} test vertebrae")
        folds.append(Fold(held_out, training, {"verse": test}))
    return folds


# -- running -----------------------------------------------------------------------------------
def run_refinement_benchmark(suite: str, out: str | os.PathLike,
                             data: str | os.PathLike | None = None, quick: bool = False,
                             device: str = "auto", progress: Progress | None = None,
                             methods: list[str] | None = None,
                             plan: RefinementPlan | None = None, seed: int = 0) -> Path:
    progress = progress or Silent()
    out = empty_output_folder(out)
    methods = methods or list(BENCHMARK_METHODS)
    unknown = [m for m in methods if m not in BENCHMARK_METHODS]
    if unknown:
        raise ScoreKitError(f"unknown method(s) {', '.join(unknown)}; one of "
                            + ", ".join(BENCHMARK_METHODS))
    if suite not in SUITES:
        raise ScoreKitError(f"unknown suite '{suite}'; one of {', '.join(SUITES)}")
    plan = plan or REFINEMENT_PLANS[suite]["quick" if quick else "full"]
    if suite == "phantom":
        folds = phantom_folds(out, plan, seed, progress)
    else:
        if data is None:
            raise ScoreKitError("the verse suite needs a data folder with *_ct.nii.gz + "
                                "*_seg-vert_msk.nii.gz pairs")
        folds = verse_folds(Path(data), out, progress)
    rows, examples = [], {}
    for fold in folds:
        for method in methods:
            rows += _run_method(method, fold, plan, out, device, seed, progress, examples)
    write_csv_atomic(out / "results.csv", rows, COLUMNS)
    write_text_atomic(out / "table1.md", table_markdown(rows, TABLE1, "Table 1", plan))
    write_text_atomic(out / "table2.md", table_markdown(rows, TABLE2, "Table 2", plan))
    from scorekit.experiments.plots import boxplots, contour_overview

    boxplots(rows, out / "boxplots.png")
    image, segmentations, case_id = examples.get("figure", (None, None, None))
    if image is not None:
        contour_overview(image, segmentations, out / "overlay.png", title=case_id)
    return out


def _run_method(method: str, fold: Fold, plan: RefinementPlan, out: Path, device: str,
                seed: int, progress: Progress, examples: dict) -> list[dict]:
    overrides = BENCHMARK_METHODS[method]
    network = config = torch_device = None
    train_s = 0.0
    if overrides is not None:
        progress.log(f"{fold.name}: training {method}")
        options = TrainOptions(steps=plan.steps, lr=plan.lr, seed=seed,
                               patch_size=[plan.patch] * 3,
                               validate_every=max(plan.steps // 4, 1), **overrides)
        started = time.perf_counter()
        model = train(fold.training.path, out / "models" / fold.name / method, options,
                      device=device, progress=progress)
        train_s = time.perf_counter() - started
        torch_device = resolve_device(device)
        network, config = load_model(model, torch_device)
    rows = []
    for test_set, ws in fold.tests.items():
        for case in ws.cases():
            image, initial, reference = case.image(), case.initial(), case.reference()
            started = time.perf_counter()
            result = initial if network is None else refine_case(
                image, initial, network, config, torch_device, case.id)
            test_s = time.perf_counter() - started
            rows += [_row(method, test_set, case.id, name, result, reference, train_s, test_s)
                     for name in reference.names]
            if method == "SCORE" and "figure" not in examples:
                examples["figure"] = (image, {"initial": initial, "SCORE": result,
                                              "reference": reference}, case.id)
    return rows


def _row(method, test_set, case_id, region, result: LabelMap, reference: LabelMap,
         train_s: float, test_s: float) -> dict:
    truth, found = reference.mask(region), result.mask(region)
    return {"method": method, "test_set": test_set, "case": case_id, "region": region,
            "dice": round(dice(found, truth), 5),
            "hd95": round(hd95(found, truth, reference.geometry.spacing_zyx), 4),
            "train_s": round(train_s, 1), "test_s": round(test_s, 2)}


# -- outputs -----------------------------------------------------------------------------------
def read_refinement_results(path: str | os.PathLike) -> list[dict]:
    return read_results(path, numeric=("dice", "hd95", "train_s", "test_s"))


def paired_values(rows, method, test_set, metric) -> list[float]:
    """``metric`` of ``method`` on ``test_set``, ordered by (case, region) for pairing."""
    ordered = sorted((r for r in rows if r["method"] == method and r["test_set"] == test_set),
                     key=lambda r: (r["case"], r["region"]))
    return [float(r[metric]) for r in ordered]


def table_markdown(rows: list[dict], methods, title: str, plan: RefinementPlan) -> str:
    """Mean (std) Dice and HD95 (mm) per method and test set; +/− against SCORE."""
    methods = [m for m in methods if any(r["method"] == m for r in rows)]
    test_sets = list(dict.fromkeys(r["test_set"] for r in rows))
    header = ["Method"] + [f"{t} Dice" for t in test_sets] + [f"{t} HD95 (mm)"
                                                              for t in test_sets]
    lines = [f"{title}: mean (std) over cases and regions; + / − : SCORE significantly "
             "better / worse (Wilcoxon signed-rank, 5 %)", "",
             "| " + " | ".join([*header, "train (s)", "test (s/case)"]) + " |",
             "|" + "---|" * (len(header) + 2)]
    for method in methods:
        cells = []
        for metric, higher in (("dice", True), ("hd95", False)):
            for test_set in test_sets:
                values = paired_values(rows, method, test_set, metric)
                mark = "" if method == "SCORE" or "SCORE" not in methods else significance(
                    paired_values(rows, "SCORE", test_set, metric), values, higher)
                cells.append(mean_std(values, mark))
        mine = [r for r in rows if r["method"] == method]
        cases = {(r["case"], r["test_set"]): r["test_s"] for r in mine}
        train_s = np.mean(list({r["train_s"] for r in mine}))
        cells += [f"{train_s:.0f}", f"{np.mean(list(cases.values())):.2f}"]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += ["", f"{plan.steps} training steps, patch {plan.patch}³, lr {plan.lr}."]
    return "\n".join(lines) + "\n"
