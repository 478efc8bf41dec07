"""scorekit weakstat train / segment / benchmark from the command line."""

from __future__ import annotations

import numpy as np
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
    assert "of the fully supervised IoU" in table
    assert (out / "overlays.png").stat().st_size > 5000
