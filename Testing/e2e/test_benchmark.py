"""``scorekit benchmark``: suites, result files and their structure, statistics."""

from __future__ import annotations

import numpy as np
import pytest

from scorekit.cli import main
from scorekit.data.labelmap import LabelMap
from scorekit.data.volume import Geometry, Volume
from scorekit.errors import ScoreKitError
from scorekit.experiments.refinement import (
    COLUMNS,
    DEFAULT_ROW,
    SMALL,
    RefinementPlan,
    read_refinement_results,
    run_refinement_benchmark,
    threshold_initial,
)
from scorekit.experiments.results import significance
from scorekit.registry import BENCHMARK_METHODS, NO_LEARNING, TABLE1, TABLE2

TINY = RefinementPlan(train_cases=2, test_cases=1, steps=3, patch=32, phantom=SMALL)


def test_the_phantom_suite_writes_results_tables_and_figures(tmp_path):
    out = run_refinement_benchmark("phantom", tmp_path / "bench", plan=TINY, device="cpu")
    rows = read_refinement_results(out / "results.csv")
    assert list(rows[0]) == COLUMNS
    assert {r["method"] for r in rows} == {*BENCHMARK_METHODS, DEFAULT_ROW}
    assert {r["test_set"] for r in rows} == {"full humerus", "proximal FOV", "distal FOV"}
    # Every method is scored on the same cases and regions.
    keys = {m: sorted((r["test_set"], r["case"], r["region"]) for r in rows if r["method"] == m)
            for m in {*BENCHMARK_METHODS, DEFAULT_ROW}}
    assert len({tuple(v) for v in keys.values()}) == 1 and len(keys["SCORE"]) == 3 * 2
    assert all(0 <= r["dice"] <= 1 for r in rows)
    untrained = {"initial", *NO_LEARNING}
    assert all(r["train_s"] == 0 for r in rows if r["method"] in untrained)
    assert all(r["train_s"] > 0 for r in rows if r["method"] not in untrained)
    table1, table2 = (out / "table1.md").read_text(), (out / "table2.md").read_text()
    for method in TABLE1:
        assert f"| {method} |" in table1
    for method in TABLE2:
        assert f"| {method} |" in table2
    assert "| Method | full humerus Dice | proximal FOV Dice | distal FOV Dice |" in table1
    for figure in ("boxplots.png", "overlay.png"):
        assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_verse_suite_takes_each_scan_whole_and_leaves_one_out(shared_data, tmp_path):
    # Patch 48 is thicker than sub-verse006 (37 slices): training pads such crops.
    out = run_refinement_benchmark("verse", tmp_path / "verse",
                                   data=shared_data / "ct" / "verse19",
                                   plan=RefinementPlan(0, 0, 3, 48),
                                   methods=["initial", "SCORE"], device="cpu")
    rows = read_refinement_results(out / "results.csv")
    # Scored on the vertebrae each scan shares with its training scan (L1–L3 of
    # sub-verse005 are in no other scan, so no model of its fold knows them).
    regions = {(r["case"], r["region"]) for r in rows if r["method"] == "initial"}
    assert regions == {(scan, vertebra) for scan in ("sub-verse005", "sub-verse006")
                       for vertebra in ("L4", "L5")}
    # Model-like initial masks lie where a foundation model's vertebra Dice lies.
    initial = [r["dice"] for r in rows if r["method"] == "initial"]
    assert 0.88 < np.mean(initial) < 0.97
    # Each held-out scan's model never saw that scan.
    for scan in ("sub-verse005", "sub-verse006"):
        training = tmp_path / "verse" / "data" / scan / "training" / "cases"
        assert [p.name for p in training.iterdir()] == [
            {"sub-verse005": "sub-verse006", "sub-verse006": "sub-verse005"}[scan]]


def test_external_masks_are_scored_as_a_row_and_a_missing_one_is_named(shared_data,
                                                                      tmp_path):
    data = shared_data / "ct" / "verse19"
    masks = tmp_path / "manual"
    masks.mkdir()
    for scan in ("sub-verse005", "sub-verse006"):  # the reference itself: Dice 1
        (masks / f"{scan}.nii.gz").write_bytes((data / f"{scan}_seg-vert_msk.nii.gz")
                                               .read_bytes())
    out = run_refinement_benchmark("verse", tmp_path / "o", data=data, methods=["initial"],
                                   external=[f"corrected={masks}"], device="cpu")
    rows = read_refinement_results(out / "results.csv")
    assert {r["dice"] for r in rows if r["method"] == "corrected"} == {1.0}
    assert "| corrected |" in (out / "table1.md").read_text()
    (masks / "sub-verse006.nii.gz").unlink()
    with pytest.raises(ScoreKitError, match="no mask for case 'sub-verse006'"):
        run_refinement_benchmark("verse", tmp_path / "p", data=data, methods=["initial"],
                                 external=[f"corrected={masks}"], device="cpu")
    with pytest.raises(ScoreKitError, match="expected NAME=FOLDER"):
        run_refinement_benchmark("verse", tmp_path / "q", data=data, external=["corrected"])


def test_threshold_initial_masks_are_solid_bone_near_each_vertebra():
    # A bright ring (cortex) around dark marrow, and a second bone 10 voxels away.
    _, y, x = np.mgrid[:6, :40, :40]
    radius = np.hypot(y - 15, x - 15)
    image = np.where((radius > 6) & (radius <= 8), 900, 40).astype(np.int16)
    image[:, 30:34, 30:34] = 900  # neighbouring bone, out of the 3 mm reach
    geometry = Geometry((40, 40, 6), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0),
                        (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))
    vertebra = LabelMap((radius <= 8).astype(np.uint8) * 20, geometry, regions={20: "L1"})
    initial = threshold_initial(Volume(image, geometry), vertebra).array == 20
    assert initial[:, 15, 15].all()  # the dark marrow inside the cortex is filled
    assert not initial[:, 32, 32].any()
    assert initial.sum() == (radius <= 8).sum()


def test_significance_marks_follow_the_wilcoxon_test():
    better = np.linspace(0.90, 0.95, 12)
    worse = better - np.linspace(0.01, 0.05, 12)
    assert significance(better, worse, higher_is_better=True) == "+"
    assert significance(worse, better, higher_is_better=True) == "−"
    assert significance(better, better, higher_is_better=True) == ""
    assert significance(worse, better, higher_is_better=False) == "+"  # HD95: lower wins
    noisy = better + np.where(np.arange(12) % 2, 0.01, -0.01)
    assert significance(better, noisy, higher_is_better=True) == ""


def test_the_verse_suite_needs_its_data(tmp_path, capsys):
    assert main(["benchmark", "--suite", "verse", "--out", str(tmp_path / "o")]) == 2
    assert "--data" in capsys.readouterr().err
