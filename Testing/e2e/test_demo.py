"""The README's main job, in a configuration small enough for the test suite."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scorekit.cli.experiments import summary_lines
from scorekit.experiments.demo import DemoPlan, run_demo
from scorekit.progress import Silent
from scorekit.score.verdict import read_verdict


def test_demo_writes_metrics_picture_and_refined_segmentations(tmp_path):
    metrics = run_demo(tmp_path, device="cpu", progress=Silent(), plan=DemoPlan(3, 1, 12))
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == metrics
    assert len(saved) == 3  # one test case per field of view
    for regions in saved.values():
        assert set(regions) == {"humerus_left", "humerus_right"}
        for values in regions.values():
            assert set(values) == {"dice_before", "dice_after", "hd95_before", "hd95_after"}
            assert 0 <= values["dice_after"] <= 1
    assert (tmp_path / "refined.png").stat().st_size > 10_000
    assert len(list((tmp_path / "refined").glob("*.seg.nrrd"))) == 3
    assert (tmp_path / "model" / "model.safetensors").exists()
    assert summary_lines(metrics)[-1].startswith("mean")


def test_demo_refuses_a_folder_that_already_holds_files(tmp_path, capsys):
    from scorekit.cli import main

    (tmp_path / "old.txt").write_text("previous run")
    assert main(["demo", "--out", str(tmp_path), "--quick"]) == 2
    assert "already holds files" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["old.txt"]


@pytest.mark.slow
def test_a_phantom_plan_where_score_gains_is_judged_go(tmp_path):
    metrics = run_demo(tmp_path, device="cpu", progress=Silent(), plan=DemoPlan(4, 1, 300))
    pairs = [(v["dice_before"], v["dice_after"]) for r in metrics.values() for v in r.values()]
    assert np.mean([after - before for before, after in pairs]) > 0.005  # SCORE gains
    verdict = read_verdict(tmp_path / "model")
    assert verdict["go"] and verdict["cases"] == "held-out rated cases", verdict
