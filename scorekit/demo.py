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
from pathlib import Path

import numpy as np

from scorekit.data.atomic import write_text_atomic
from scorekit.data.labels import write_labelmap
from scorekit.devices import resolve_device
from scorekit.errors import ScoreKitError
from scorekit.eval.metrics import dice, hd95
from scorekit.eval.plots import contour_overview
from scorekit.progress import Progress
from scorekit.score.model import load_model
from scorekit.score.refine import refine_case
from scorekit.score.train import TrainOptions, train
from scorekit.synth import write_phantom_workspace

# (training cases, test cases per field of view, steps) — sized for 2 CPU cores.
PLANS = {"quick": (6, 1, 1000), "default": (8, 2, 1800)}


def run_demo(out: str | os.PathLike, quick: bool = False, seed: int = 0,
             device: str = "auto", progress: Progress | None = None,
             plan: tuple[int, int, int] | None = None) -> dict:
    """Run the demo into ``out`` (see module doc) and return its metrics.

    ``plan`` overrides (training cases, test cases per field of view, steps).
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ScoreKitError(f"{out}: already holds files; choose an empty or new --out")
    progress = progress or Progress()
    n_train, n_test, steps = plan or PLANS["quick" if quick else "default"]
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


def summary_lines(metrics: dict) -> list[str]:
    """A table of the metrics for the terminal, with the mean over all regions."""
    lines = [f"{'case':<18} {'region':<14} {'Dice before':>11} {'after':>7} "
             f"{'HD95 before':>11} {'after':>7}"]
    rows = [(c, r, m) for c, regions in metrics.items() for r, m in regions.items()]
    for case, region, m in rows:
        lines.append(f"{case:<18} {region:<14} {m['dice_before']:>11.3f} {m['dice_after']:>7.3f}"
                     f" {_mm(m['hd95_before']):>11} {_mm(m['hd95_after']):>7}")
    mean = {k: np.mean([m[k] for *_, m in rows if m[k] is not None])
            for k in ("dice_before", "dice_after", "hd95_before", "hd95_after")}
    lines.append(f"{'mean':<33} {mean['dice_before']:>11.3f} {mean['dice_after']:>7.3f} "
                 f"{mean['hd95_before']:>11.2f} {mean['hd95_after']:>7.2f}")
    return lines


def _mm(value) -> str:
    return "-" if value is None else f"{value:.2f}"
