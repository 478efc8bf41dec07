"""``scorekit demo``: the README's main job on synthetic phantoms, start to finish.

1. a training workspace of phantom CTs with foundation-model-like initial segmentations
   and simulated ratings (the only supervision);
2. a SCORE model trained from those ratings;
3. one-click refinement of unseen test phantoms (full, proximal and distal fields of view);
4. Dice and HD95 before / after per case and region (``metrics.json``, printed) and a
   picture of the initial, refined and reference contours (``refined.png``).

Short CPU runs use lr 1e-3 instead of the paper's 1e-4 (which needs far more steps).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from scorekit.data.atomic import write_text_atomic
from scorekit.data.labels import write_labelmap
from scorekit.devices import resolve_device
from scorekit.experiments.plots import contour_overview
from scorekit.experiments.results import empty_output_folder
from scorekit.metrics import dice, hd95
from scorekit.progress import Progress
from scorekit.score.model import load_model
from scorekit.score.refine import refine_case
from scorekit.score.trainer import TrainOptions, train
from scorekit.synth import write_phantom_workspace


@dataclass(frozen=True)
class DemoPlan:
    train_cases: int
    test_cases: int  # per field of view
    steps: int


DEMO_PLANS = {"quick": DemoPlan(6, 1, 1000), "full": DemoPlan(8, 2, 1800)}  # 2 CPU cores


def run_demo(out: str | os.PathLike, quick: bool = False, seed: int = 0,
             device: str = "auto", progress: Progress | None = None,
             plan: DemoPlan | None = None) -> dict:
    """Run the demo into ``out`` (see module doc) and return its metrics."""
    out = empty_output_folder(out)
    progress = progress or Progress()
    plan = plan or DEMO_PLANS["quick" if quick else "full"]
    n_train, n_test, steps = plan.train_cases, plan.test_cases, plan.steps
    training = write_phantom_workspace(out / "training", cases=n_train, seed=seed,
                                       progress=progress)
    tests = [write_phantom_workspace(out / "test" / fov, cases=n_test, seed=seed + 1000,
                                     fov=fov, prefix="test", progress=progress)
             for fov in ("full", "proximal", "distal")]
    options = TrainOptions(steps=steps, lr=1e-3, seed=seed, validate_every=max(steps // 6, 1))
    model_dir = train(training.path, out / "model", options, device=device, progress=progress)
    torch_device = resolve_device(device)
    network, config = load_model(model_dir, torch_device)

    metrics, figure_case = {}, None
    cases = [case for ws in tests for case in ws.cases()]
    progress.start("refine", len(cases))
    for case in cases:
        image, initial, reference = case.image(), case.initial(), case.reference()
        refined = refine_case(image, initial, network, config, torch_device, case.id)
        write_labelmap(refined, out / "refined" / f"{case.id}.seg.nrrd")
        metrics[case.id] = _compare(initial, refined, reference)
        figure_case = figure_case or (case.id, image, initial, refined, reference)
        progress.advance()
    progress.close()
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    case_id, image, initial, refined, reference = figure_case
    contour_overview(image, {"initial": initial, "refined": refined, "reference": reference},
                     out / "refined.png", title=f"{case_id}: SCORE refinement")
    return metrics


def _compare(initial, refined, reference) -> dict:
    spacing = reference.geometry.spacing_zyx
    result = {}
    for name in reference.names:
        truth = reference.mask(name)
        result[name] = {
            "dice_before": round(dice(initial.mask(name), truth), 4),
            "dice_after": round(dice(refined.mask(name), truth), 4),
            "hd95_before": _finite(hd95(initial.mask(name), truth, spacing)),
            "hd95_after": _finite(hd95(refined.mask(name), truth, spacing)),
        }
    return result


def _finite(value: float) -> float | None:
    return round(value, 3) if np.isfinite(value) else None
