"""scorekit weakstat train / segment / benchmark from the command line."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from scorekit.cli import main


# -- command line -------------------------------------------------------------------------------
def test_cli_trains_segments_and_benchmarks_in_2d(lesions, tmp_path, capsys):
    model = tmp_path / "model"
    assert main(["weakstat", "train", "--data", str(lesions), "--out", str(model),
                 "--backbone", "mobilenet_v3_large", "--size", "64", "64", "--steps", "3",
                 "--device", "cpu"]) == 0
    image = next((lesions / "images").iterdir())
    assert main(["weakstat", "segment", "--model", str(model), "--image", str(image),
                 "--out", str(tmp_path / "mask.png"), "--device", "cpu"]) == 0
    mask = np.asarray(Image.open(tmp_path / "mask.png"))
    assert mask.shape == np.asarray(Image.open(image)).shape
    assert set(np.unique(mask)) <= {0, 255}

    from scorekit.experiments import weakstat

    plan = weakstat.WeakStatPlan("mobilenet_v3_large", [64, 64], 3, 4)
    out = weakstat.run_weakstat_benchmark(lesions, tmp_path / "bench", plan=plan, device="cpu",
                                          configs=["stat-only", "stat+weak-8%", "full"])
    rows = weakstat.read_weakstat_results(out / "results.csv")
    assert {r["config"] for r in rows} == {"stat-only", "stat+weak-8%", "full"}
    assert all(0 <= r["iou"] <= 1 for r in rows)
    table = (out / "table.md").read_text()
    assert "| Dataset | L_s only | L_s + L_ws (8 %) | Fully supervised |" in table
    assert "| ratio to full |" in table and "| fold 1 IoU |" in table
    assert (out / "overlays.png").stat().st_size > 5000


def test_cross_validation_reports_folds_ratios_and_box_plots(lesions, tmp_path):
    from scorekit.experiments import weakstat

    plan = weakstat.WeakStatPlan("unet2d", [32, 32], 2, 4, 2)
    out = weakstat.run_weakstat_benchmark(lesions, tmp_path / "cv", plan=plan, device="cpu",
                                          configs=["stat+weak-8%", "full"], folds=3,
                                          pretrain=True)
    rows = weakstat.read_weakstat_results(out / "results.csv")
    tested = {}
    for row in rows:
        tested.setdefault(row["image"], set()).add(row["fold"])
    assert len(tested) == 16 and all(len(f) == 1 for f in tested.values())
    folds = weakstat.read_weakstat_folds(out / "folds.csv")
    assert [(r["fold"], r["config"]) for r in folds] == [
        (f, c) for f in ("1", "2", "3") for c in ("stat+weak-8%", "full")]
    for row in folds:
        if row["config"] == "full":  # no ratio to a network that learnt nothing
            assert row["ratio_to_full"] == ("1.0" if row["iou"] >= weakstat.RATIO_FLOOR
                                            else "")
        mine = [r["dice"] for r in rows if r["fold"] == row["fold"]
                and r["config"] == row["config"]]
        assert row["dice"] == pytest.approx(np.mean(mine), abs=1e-4)
    table = (out / "table.md").read_text()
    assert "| ratio to full |" in table and "| fold 3 IoU |" in table
    assert "mean (std) over 3 fold(s)" in table and "pretrained on each fold" in table
    assert (out / "boxplots.png").stat().st_size > 5000
    assert len(list(out.glob("pretrained-fold*.safetensors"))) == 3


def test_the_benchmark_runs_on_vertebrae_in_3d_and_on_their_largest_slices(shared_data,
                                                                             tmp_path):
    from scorekit.experiments import weakstat

    verse = shared_data / "ct" / "verse19"
    plan = weakstat.WeakStatPlan("unet3d", [16, 16, 16], 2, 2)
    out = weakstat.run_weakstat_benchmark(verse, tmp_path / "3d", plan=plan, device="cpu",
                                          configs=["stat-only", "full"], folds=2,
                                          roi_contrast="brighter")
    rows = weakstat.read_weakstat_results(out / "results.csv")
    assert sorted({(r["fold"], r["image"].split("-L")[0]) for r in rows}) == [
        ("1", "sub-verse005"), ("2", "sub-verse006")]  # leave one scan out
    assert len({r["image"] for r in rows}) == 7
    assert (out / "overlays.png").stat().st_size > 5000
    assert main(["weakstat", "benchmark", "--data", str(verse), "--out", str(tmp_path / "2d"),
                 "--quick", "--steps", "2", "--largest-slice", "--folds", "2", "--configs",
                 "weak-only", "--device", "cpu"]) == 0
    rows = weakstat.read_weakstat_results(tmp_path / "2d" / "results.csv")
    assert len(rows) == 7 and all("[z=" in r["image"] for r in rows)


def test_the_benchmark_runs_on_named_structures_of_a_ct_folder_per_structure(shared_data,
                                                                             tmp_path):
    from scorekit.experiments import weakstat

    out = tmp_path / "organs"
    assert main(["weakstat", "benchmark", "--data", str(shared_data / "ct" / "totalseg-subjects"),
                 "--structures", "vertebrae_C3,esophagus,liver", "--out", str(out), "--quick",
                 "--steps", "2", "--folds", "3", "--configs", "full,stat+weak-8%",
                 "--device", "cpu"]) == 0
    rows = weakstat.read_weakstat_results(out / "results.csv")
    folds = {(r["fold"], r["image"].split("-")[0]) for r in rows}
    assert sorted(f for f, _ in folds) == ["1", "2", "3"]  # one scan held out per fold
    assert sorted(scan for _, scan in folds) == ["s0002", "s0003", "s0009"]
    assert {r["structure"] for r in rows} == {"vertebrae_C3", "esophagus", "liver"}
    table = (out / "table.md").read_text()
    assert "| structure | cubes | Fully supervised | L_s + L_ws (8 %) |" in table
    assert "| esophagus | 3 |" in table and "| liver | 1 |" in table
