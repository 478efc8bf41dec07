"""How SCORE's gain grows with the initial masks' errors (humerus phantoms, quick plan).

The phantom suite's initial masks start at a Dice of 0.95–0.96, which leaves little to
gain. This runs the quick phantom plan (as ``scorekit benchmark --suite phantom --quick``)
with the initial masks' surface displacements scaled (``scorekit phantom --error-scale``)
for the initial masks, SCORE and Post-DAE+Scan, and prints the mean Dice per test set with
SCORE's gain over the initial masks and its Wilcoxon p. It also counts the cases whose
correction band reaches air, where the boundary prior's lower bound falls to air's level
(``score/priors/local.py``), and SCORE's change per region on those test cases and the others.
About 4 min per scale on 2 CPU cores. ``--full-plan-air`` only counts those cases in the
full phantom plan's data (no training, about 1 min).

    python benchmarks/bench_headroom.py [--scales 1 1.5 2] [--device auto] [--quick]
    python benchmarks/bench_headroom.py --full-plan-air
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from benchcli import bench_parser, gain_over_initial

from scorekit.data.workspace import Workspace
from scorekit.experiments.refinement import (
    REFINEMENT_PLANS,
    paired_values,
    phantom_folds,
    read_refinement_results,
    run_refinement_benchmark,
)
from scorekit.progress import Silent
from scorekit.score.inputs import case_inputs
from scorekit.score.model import ModelConfig

METHODS = ["initial", "SCORE", "Post-DAE+Scan"]
AIR_LEVEL_HU = -500.0  # a prior lower bound below this is air's level, not tissue's


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="scale 2 only, 100 steps")
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 1.5, 2.0])
    parser.add_argument("--full-plan-air", action="store_true",
                        help="only count the full plan's cases whose band reaches air")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="scorekit-bench-headroom-") as work:
        if args.full_plan_air:
            phantom_folds(Path(work), REFINEMENT_PLANS["phantom"]["full"], seed=0,
                          progress=Silent())
            return {"full plan": _print_air(Path(work) / "data", "full plan")}
        plan = REFINEMENT_PLANS["phantom"]["quick"]
        if args.quick:
            plan = replace(plan, steps=100)
        results = {}
        for scale in [2.0] if args.quick else args.scales:
            run = replace(plan, phantom=(*plan.phantom, ("error_scale", scale)))
            out = run_refinement_benchmark("phantom", Path(work) / f"scale-{scale}", plan=run,
                                           methods=METHODS, device=args.device)
            rows = read_refinement_results(out / "results.csv")
            results[scale] = _summary(rows)
            for test_set, means in results[scale].items():
                print(f"error scale {scale:<4} {test_set:<13} " + "  ".join(
                    f"{m} {means[m]:.3f}" for m in METHODS)
                    + f"  SCORE gain {100 * means['gain']:+.1f} points (p {means['p']:.3f})")
            air = _print_air(out / "data", f"error scale {scale}")
            _print_changes_by_air(rows, {case for cases in air.values() for case in cases})
    return results


def _summary(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per test set: mean Dice per method, SCORE's gain over the initial masks and its p."""
    summary = {}
    for test_set in dict.fromkeys(r["test_set"] for r in rows):
        dice = {m: np.array(paired_values(rows, m, test_set, "dice")) for m in METHODS}
        versus = gain_over_initial(dice["initial"], dice["SCORE"])
        summary[test_set] = {m: float(d.mean()) for m, d in dice.items()} | {
            "gain": versus["gain"], "p": versus["p"]}
    return summary


def cases_with_air_in_band(workspace: Workspace) -> list[str]:
    """Cases whose prior lower bound lo (as training and refinement compute it) is air's."""
    config = ModelConfig(regions=workspace.cases()[0].regions)
    return [case.id for case in workspace.cases()
            if case_inputs(case.image(), case.initial(), config, case.id).surroundings
            < AIR_LEVEL_HU]


def _print_air(data: Path, label: str) -> dict[str, list[str]]:
    air = {}
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        workspace = Workspace(folder)
        air[folder.name] = cases_with_air_in_band(workspace)
        print(f"{label}: band reaches air in {len(air[folder.name])} of "
              f"{len(workspace.case_ids())} {folder.name} cases {air[folder.name]}")
    return air


def _print_changes_by_air(rows: list[dict], air_cases: set[str]) -> None:
    initial = {(r["case"], r["region"]): r["dice"] for r in rows if r["method"] == "initial"}
    for reaches_air in (True, False):
        change = [100 * (r["dice"] - initial[r["case"], r["region"]]) for r in rows
                  if r["method"] == "SCORE" and (r["case"] in air_cases) == reaches_air]
        if change:
            print(f"  SCORE change per region, test cases {'with' if reaches_air else 'without'}"
                  f" air in the band: {min(change):+.1f} to {max(change):+.1f} points")


if __name__ == "__main__":
    main()
