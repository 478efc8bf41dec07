"""The refinement benchmark (``scorekit benchmark --suite phantom|verse|folder``): the SCORE
paper's Tables 1 and 2 on data we have, beside the refinements that need no learning.

* ``phantom``: a training workspace of rated humerus phantoms (full field of view) and three
  test sets as in the paper (full humerus, proximal and distal fields of view).
* ``verse``: real CT with manual vertebra masks, any folder of ``*_ct.nii.gz`` +
  ``*_seg-vert_msk.nii.gz`` pairs (VerSe's names and label codes).
* ``folder``: any folder of ``<case>_ct`` + ``<case>_seg`` + ``<case>_seg.json``
  (``scorekit.data.scanfolder``), structures matched by name across cases
  (``structures``; default every structure at least two cases show).

In the real suites each scan is one case with **all its structures as regions**, as
TotalSegmentator delivers them, so neighbours compete at refinement. A structure under
``scanfolder.MIN_REGION_ML`` in a scan (cut by the field of view) is left out of that
scan. Initial masks (``initial``):

- ``model-like`` (default): what a foundation model working on the scan's grid gives —
  resolution loss plus smooth boundary displacement per region error mode, both scaled
  with the scan's voxel size (:func:`scorekit.synth.errors.model_like_initial`);
- ``threshold``: bone above 200 HU within 3 mm of each manual mask, largest component
  (misses low-density trabecular bone, takes in neighbouring bone) — a process unlike
  any training augmentation;
- a folder: a user's own model's masks, ``<case>.nii.gz`` + names or ``<case>.seg.nrrd``.

Ratings are simulated against the reference masks; evaluation is leave-one-scan-out or
``folds``-fold cross-validation by case. Each test scan is scored on the regions its
training scans also show (a model knows no others).

Methods: ``initial``, ``prior-only`` and ``rating-guided-prior`` (no learning;
``score/prior_refine.py``; the latter uses the simulated rater's ratings of the test scan,
as does ``learned-gate+ratings``), ``learned-gate`` (the gate fitted to the training
ratings, no network), ``Post-DAE``, ``Post-DAE+Scan`` (fully supervised baselines), ``SCORE``
and its ablations, and external masks (``--external NAME=FOLDER``: one ``<case>.nii.gz``
or other label file per case, made by another tool, scored as a row). Outputs:
``results.csv`` (method, test_set, case, region, dice, hd95, train_s, test_s),
``table1.md``, ``table2.md``, ``boxplots.png``, ``overlay.png``, and each trained model's
verdict in ``verdicts.csv``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
from scipy import ndimage

from scorekit.data.atomic import write_csv_atomic, write_text_atomic
from scorekit.data.labelmap import LabelMap
from scorekit.data.labels import read_labelmap, resample_labelmap
from scorekit.data.scanfolder import (
    chosen_regions,
    default_structures,
    read_scan_case,
    scan_folder_cases,
)
from scorekit.data.verse import VERSE_NAMES, read_verse_scan, verse_pairs
from scorekit.data.volume import Volume
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
from scorekit.registry import (
    BENCHMARK_METHODS,
    INITIAL_KINDS,
    LEARNED_GATE,
    NEEDS_RATINGS,
    NO_LEARNING,
    RATED_GATE,
    SUITES,
    TABLE1,
    TABLE2,
    VOLUME_SUFFIXES,
    case_id_from_name,
)
from scorekit.registry import load as registry_load
from scorekit.score.choice import named_choice, refine_as_named
from scorekit.score.model import load_config, load_model
from scorekit.score.prior_refine import gated_prior, workspace_gate
from scorekit.score.refine import refine_case
from scorekit.score.trainer import TrainOptions, train
from scorekit.synth import write_phantom_workspace
from scorekit.synth.errors import model_error_scale, model_like_initial
from scorekit.synth.rater import simulated_rating

COLUMNS = ["method", "test_set", "case", "region", "dice", "hd95", "train_s", "test_s"]


@dataclass(frozen=True)
class RefinementPlan:
    train_cases: int  # phantom suite
    test_cases: int  # per test set (phantom suite)
    steps: int
    patch: int = 64
    phantom: tuple = ()  # extra phantom options as (name, value) pairs
    lr: float = 1e-3  # short CPU runs; the paper's 1e-4 needs far more steps
    max_cases: int | None = None  # folder suite: the first cases by name


SMALL = (("size_xy", 96), ("slices", 120), ("spacing", (2.0, 2.0, 2.7)))
REFINEMENT_PLANS = {
    "phantom": {"quick": RefinementPlan(6, 4, 500, 48, SMALL),
                "full": RefinementPlan(8, 4, 1800)},
    "verse": {"quick": RefinementPlan(0, 0, 300, 48), "full": RefinementPlan(0, 0, 1500)},
    # quick: up to 100 cases, so that a gain of a tenth of a Dice point per region can show
    # (on all 87 head-and-neck scans it does; on 24 of them it could not)
    "folder": {"quick": RefinementPlan(0, 0, 300, 48, max_cases=100),
               "full": RefinementPlan(0, 0, 1500)},
}


@dataclass(frozen=True)
class Fold:
    """One training workspace and the test workspaces it is scored on."""

    name: str
    training: Workspace
    tests: dict[str, Workspace]
    label_names: dict[int, str] | None = None  # external masks' values (None: the reference's)


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


def threshold_initial(image: Volume, reference: LabelMap, threshold: float = 200.0,
                      reach_mm: float = 3.0) -> LabelMap:
    """A bone-threshold initial segmentation (see module doc): per region, bone within
    ``reach_mm`` of its manual mask, largest component; a voxel near two regions goes to
    the nearer one."""
    spacing = image.geometry.spacing_zyx
    bone = bone_mask(image.array, threshold)
    nearest = np.full(bone.shape, np.inf, dtype=np.float32)
    array = np.zeros_like(reference.array)
    for value in reference.regions:
        distance = ndimage.distance_transform_edt(reference.array != value, sampling=spacing)
        mine = largest_component(bone & (distance <= reach_mm)) & (distance < nearest)
        nearest[mine], array[mine] = distance[mine], value
    return replace(reference, array=array)


def largest_component(mask: np.ndarray) -> np.ndarray:
    components, count = ndimage.label(mask)
    if count == 0:
        return mask
    return components == 1 + int(np.argmax(np.bincount(components.ravel())[1:]))


def scan_case(scan: str, ct: Path, mask: Path, initial_kind: str, seed: int):
    """(case id, image, initial, reference) of one VerSe scan, every vertebra a region."""
    image, labels = read_verse_scan(ct, mask)
    case_id = case_id_from_name(scan)
    return case_id, image, initial_masks(initial_kind, case_id, image, labels, seed), labels


def initial_masks(kind: str, case_id: str, image: Volume, reference: LabelMap, seed: int,
                  names: dict[int, str] | None = None) -> LabelMap:
    """The initial masks of a real suite's case (see module doc): ``model-like``,
    ``threshold`` or a folder of a user's masks (``names``: its label codes)."""
    if kind == "threshold":
        return threshold_initial(image, reference)
    if kind == "model-like":  # a distinct, reproducible error draw per scan
        rng = np.random.default_rng([seed, *case_id.encode()])
        scale = model_error_scale(image.geometry.spacing_zyx)
        return model_like_initial(reference, rng, scale=scale)[0]
    masks = external_result(Path(kind), case_id, image, names or reference.regions)
    keep = {v: n for v, n in masks.regions.items() if n in reference.names}
    return only_regions(masks, keep)


def only_regions(labels: LabelMap, regions: dict[int, str]) -> LabelMap:
    """``labels`` with every value not in ``regions`` set to background."""
    array = np.where(np.isin(labels.array, list(regions)), labels.array, 0)
    return replace(labels, array=array.astype(labels.array.dtype), regions=dict(regions))


@dataclass(frozen=True)
class ScanSource:
    """One case of a real suite, read when its turn comes (one scan in memory at a time)."""

    case_id: str
    read: Callable[[], tuple[Volume, LabelMap]]


def verse_sources(data: Path) -> list[ScanSource]:
    return [ScanSource(case_id_from_name(scan), partial(read_verse_scan, ct, mask))
            for scan, ct, mask in verse_pairs(data, at_least=2)]


def folder_sources(data: Path, max_cases: int | None) -> list[ScanSource]:
    cases = scan_folder_cases(data, at_least=2)[:max_cases]
    return [ScanSource(case_id_from_name(case), partial(read_scan_case, ct, seg))
            for case, ct, seg in cases]


def fold_groups(case_ids: list[str], folds: int | None) -> list[tuple[str, set[str]]]:
    """(fold name, its test cases): leave-one-case-out (``folds`` None), or ``folds``
    groups dealt in turn from the cases sorted by id."""
    ordered = sorted(case_ids)
    if folds is None or folds >= len(ordered):
        return [(case, {case}) for case in ordered]
    if folds < 2:
        raise ScoreKitError(f"--folds {folds}: needs at least 2 folds")
    return [(f"fold-{k + 1}", set(ordered[k::folds])) for k in range(folds)]


def scan_folds(sources: list[ScanSource], out: Path, initial_kind: str, seed: int,
               progress: Progress, structures: set[str] | None = None,
               folds: int | None = None, names: dict[int, str] | None = None,
               test_set: str = "folder") -> list[Fold]:
    """Cross-validation folds over real scans: every case is read once, given its initial
    masks and simulated ratings, and written into each fold's training or test workspace."""
    groups = fold_groups([s.case_id for s in sources], folds)
    workspaces = {name: (Workspace.create(out / "data" / name / "training"),
                         Workspace.create(out / "data" / name / "test")) for name, _ in groups}
    progress.start("read scans", len(sources))
    for source in sources:
        image, labels = source.read()
        reference = only_regions(labels, chosen_regions(labels, structures))
        if not reference.regions:
            progress.log(f"{source.case_id}: none of the chosen structures; left out")
            progress.advance()
            continue
        initial = initial_masks(initial_kind, source.case_id, image, reference, seed, names)
        ratings = simulated_ratings(source.case_id, initial, reference)
        for name, tests in groups:
            ws = workspaces[name][1 if source.case_id in tests else 0]
            ws.add_case(source.case_id, image, initial, reference)
            ws.ratings.put(ratings)
        progress.advance()
    progress.close()
    result = []
    for name, _ in groups:
        training, test = workspaces[name]
        if not training.case_ids() or not test.case_ids():
            continue
        progress.log(f"fold {name}: {len(training.case_ids())} training scans, "
                     f"{len(test.case_ids())} test scans, {len(_regions(training))} regions")
        result.append(Fold(name, training, {test_set: test}, names))
    return result


def _regions(ws: Workspace) -> list[str]:
    return sorted({name for case in ws.cases() for name in case.initial().names})


def external_masks(spec: str) -> tuple[str, Path]:
    """``NAME=FOLDER`` of ``--external``: a method's name and its folder of masks."""
    name, sep, folder = spec.partition("=")
    if not sep or not name or not folder:
        raise ScoreKitError(f"--external '{spec}': expected NAME=FOLDER")
    if name in BENCHMARK_METHODS:
        raise ScoreKitError(f"--external '{spec}': '{name}' is a built-in method's name")
    if not Path(folder).is_dir():
        raise ScoreKitError(f"--external '{spec}': {folder} is not a folder")
    return name, Path(folder)


def external_result(folder: Path, case_id: str, image: Volume, names: dict[int, str]
                    ) -> LabelMap:
    """The external method's mask of ``case_id``: ``FOLDER/<case>.<any label format>``,
    regions named by the file (``.seg.nrrd``, sidecar) or else by ``names`` (the suite's
    label codes: VerSe's for the verse suite)."""
    found = [folder / f"{case_id}{suffix}" for suffix in (".seg.nrrd", *VOLUME_SUFFIXES)
             if (folder / f"{case_id}{suffix}").exists()]
    if not found:
        raise ScoreKitError(f"{folder}: no mask for case '{case_id}' "
                            f"(expected {case_id}.nii.gz or another label format)")
    labels = read_labelmap(found[0], names=names, allow_empty=True)
    return resample_labelmap(labels, image.geometry, str(found[0]))


# -- running -----------------------------------------------------------------------------------
def run_refinement_benchmark(suite: str, out: str | os.PathLike,
                             data: str | os.PathLike | None = None, quick: bool = False,
                             device: str = "auto", progress: Progress | None = None,
                             methods: list[str] | None = None,
                             plan: RefinementPlan | None = None, seed: int = 0,
                             initial: str = "model-like", external: list[str] = (),
                             structures: list[str] | None = None,
                             folds: int | None = None) -> Path:
    progress = progress or Silent()
    methods = methods or list(BENCHMARK_METHODS)
    unknown = [m for m in methods if m not in BENCHMARK_METHODS]
    if unknown:
        raise ScoreKitError(f"unknown method(s) {', '.join(unknown)}; one of "
                            + ", ".join(BENCHMARK_METHODS))
    if suite not in SUITES:
        raise ScoreKitError(f"unknown suite '{suite}'; one of {', '.join(SUITES)}")
    if initial not in INITIAL_KINDS and not Path(initial).is_dir():
        raise ScoreKitError(f"unknown initial masks '{initial}'; one of "
                            + ", ".join(INITIAL_KINDS) + ", or a folder of masks")
    if suite != "phantom" and data is None:
        raise ScoreKitError(f"the {suite} suite needs --data DIR ({SUITE_DATA[suite]})")
    externals = dict(external_masks(spec) for spec in external)
    plan = plan or REFINEMENT_PLANS[suite]["quick" if quick else "full"]
    out = empty_output_folder(out)
    if suite == "phantom":
        folds_ = phantom_folds(out, plan, seed, progress)
    elif suite == "verse":
        folds_ = scan_folds(verse_sources(Path(data)), out, initial, seed, progress,
                            set(structures) if structures else None, folds, VERSE_NAMES,
                            test_set="verse")
    else:
        chosen = set(structures) if structures else default_structures(Path(data),
                                                                         plan.max_cases)
        folds_ = scan_folds(folder_sources(Path(data), plan.max_cases), out, initial, seed,
                            progress, chosen, folds, test_set="folder")
    rows, examples = [], {}
    for fold in folds_:
        for method in methods:
            rows += _run_method(method, fold, plan, out, device, seed, progress, examples)
        for name, folder in externals.items():
            rows += _external_rows(name, folder, fold)
    write_csv_atomic(out / "results.csv", rows, COLUMNS)
    write_csv_atomic(out / "verdicts.csv", verdict_rows(rows, out / "models", folds_),
                     VERDICT_COLUMNS)
    write_text_atomic(out / "table1.md", table_markdown(rows, (*TABLE1, *externals),
                                                        "Table 1", plan))
    write_text_atomic(out / "table2.md", table_markdown(rows, TABLE2, "Table 2", plan))
    from scorekit.experiments.plots import boxplots, contour_overview

    boxplots(rows, out / "boxplots.png")
    image, segmentations, case_id = examples.get("figure", (None, None, None))
    if image is not None:
        contour_overview(image, segmentations, out / "overlay.png", title=case_id)
    return out


SUITE_DATA = {"verse": "*_ct.nii.gz + *_seg-vert_msk.nii.gz pairs",
              "folder": "<case>_ct.nii.gz + <case>_seg.nii.gz + <case>_seg.json per case"}


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
    gate = None
    if method in (LEARNED_GATE, RATED_GATE):
        started = time.perf_counter()
        gate = workspace_gate(fold.training)
        train_s = time.perf_counter() - started
        progress.log(f"{fold.name}: learned gate {gate}")
    known = set(_regions(fold.training))
    rows = []
    for test_set, ws in fold.tests.items():
        for case in ws.cases():
            image, initial, reference = case.image(), case.initial(), case.reference()
            started = time.perf_counter()
            if network is not None:
                result = refine_case(image, initial, network, config, torch_device, case.id)
                if method == "SCORE":  # and what `scorekit refine` applies by default
                    rows += _default_rows(result, image, initial, reference, network, config,
                                          torch_device, case.id, test_set, known, train_s)
            elif gate is not None:
                ratings = simulated_ratings(case.id, initial, reference) \
                    if method == RATED_GATE else None
                result = gated_prior(image, initial, gate, case.id, ratings)
            else:
                result = untrained_result(method, case.id, image, initial, reference)
            test_s = time.perf_counter() - started
            rows += [_row(method, test_set, case.id, name, result, reference, train_s, test_s)
                     for name in reference.names if name in known]
            if method == "SCORE" and "figure" not in examples:
                examples["figure"] = (image, {"initial": initial, "SCORE": result,
                                              "reference": reference}, case.id)
    return rows


DEFAULT_ROW = "SCORE-default"  # the refinement SCORE's verdict names (score/choice.py)


def _default_rows(network_result: LabelMap, image: Volume, initial: LabelMap,
                  reference: LabelMap, network, config, device, case_id: str, test_set: str,
                  known: set[str], train_s: float) -> list[dict]:
    started = time.perf_counter()
    if named_choice(config) == "model":
        result = network_result
    else:
        result, _ = refine_as_named(image, initial, network, config, device, case_id)
    test_s = time.perf_counter() - started
    return [_row(DEFAULT_ROW, test_set, case_id, name, result, reference, train_s, test_s)
            for name in reference.names if name in known]


def untrained_result(method: str, case_id: str, image: Volume, initial: LabelMap,
                     reference: LabelMap) -> LabelMap:
    """The masks of a row that needs no training: the initial masks, or a refinement
    without a model (the rating-guided one rated by the simulated rater)."""
    if method == "initial":
        return initial
    refine = registry_load(NO_LEARNING, method, "refinement without a model")
    if method not in NEEDS_RATINGS:
        return refine(image, initial, case_id)
    return refine(image, initial, simulated_ratings(case_id, initial, reference), case_id)


def simulated_ratings(case_id: str, initial: LabelMap, reference: LabelMap) -> list:
    """The simulated rater's ratings of a test scan, for the rows that use them."""
    return [simulated_rating(case_id, name, reference.mask(name), initial.mask(name))
            for name in initial.names]


VERDICT_COLUMNS = ["fold", "method", "go", "reasons", "initial_dice", "dice", "right", "use",
                   "use_dice", "best", "best_dice", "use_right"]
# the benchmark row of each refinement a verdict can name ("model": the trained method's)
CHOICE_ROWS = {"initial": "initial", "learned-gate": LEARNED_GATE, "prior-only": "prior-only"}
USE_TOLERANCE = 0.001  # a named choice within this much mean Dice of the best is right


def verdict_rows(rows: list[dict], models: Path, folds: list[Fold]) -> list[dict]:
    """Per trained model: its go / no-go verdict against whether it beat the initial masks
    on its test scans (mean Dice); ``right`` when go is exactly where it gained (a model
    that changes nothing gains nothing: no-go is right for it)."""
    tests = {fold.name: {c for ws in fold.tests.values() for c in ws.case_ids()}
             for fold in folds}
    table = []
    for folder in sorted(p for p in models.glob("*/*") if (p / "model.json").exists()):
        fold, method = folder.parent.name, folder.name
        verdict = load_config(folder).training.get("verdict") or {}
        cases = tests.get(fold, set())
        mine = [r["dice"] for r in rows if r["method"] == method and r["case"] in cases]
        initial = [r["dice"] for r in rows if r["method"] == "initial" and r["case"] in cases]
        if not mine or not initial or "go" not in verdict:
            continue
        gained = float(np.mean(mine)) > float(np.mean(initial))
        table.append({"fold": fold, "method": method, "go": verdict["go"],
                      "reasons": "; ".join(verdict["reasons"]),
                      "initial_dice": round(float(np.mean(initial)), 4),
                      "dice": round(float(np.mean(mine)), 4), "right": verdict["go"] == gained,
                      **_use_columns(rows, method, verdict.get("use"), cases)})
    return table


def _use_columns(rows: list[dict], method: str, use: str | None, cases: set[str]) -> dict:
    """Whether the refinement the verdict named was the best of the candidates this run
    scored (by mean Dice on the fold's test cases)."""
    candidates = {"model": method, **CHOICE_ROWS}
    means = {}
    for choice, row in candidates.items():
        values = [r["dice"] for r in rows if r["method"] == row and r["case"] in cases]
        if values:
            means[choice] = float(np.mean(values))
    if use not in means:
        return {"use": use or "", "use_dice": "", "best": "", "best_dice": "", "use_right": ""}
    best = max(means, key=lambda k: means[k])
    return {"use": use, "use_dice": round(means[use], 4), "best": best,
            "best_dice": round(means[best], 4),
            "use_right": means[use] >= means[best] - USE_TOLERANCE}


def _external_rows(name: str, folder: Path, fold: Fold) -> list[dict]:
    rows = []
    for test_set, ws in fold.tests.items():
        for case in ws.cases():
            reference = case.reference()
            result = external_result(folder, case.id, case.image(),
                                     fold.label_names or reference.regions)
            rows += [_row(name, test_set, case.id, region, result, reference, 0.0, 0.0)
                     for region in reference.names]
    return rows


def _row(method, test_set, case_id, region, result: LabelMap, reference: LabelMap,
         train_s: float, test_s: float) -> dict:
    truth = reference.mask(region)
    found = result.mask(region) if region in result.names else np.zeros_like(truth)
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
