"""SCORE against the initial masks on the phantom suite, per seed and pooled over seeds.

One run of the phantom plan is one draw of phantoms and of training, and runs of different
seeds differ by up to a point and a half. This runs the full plan (as ``scorekit benchmark
--suite phantom --methods initial,SCORE --seed N``; about 4 min a seed on 2 CPU cores) for
each seed, or reads the ``results.csv`` of such runs (``--results``), and prints per test
set the mean Dice initial → SCORE, the gain in points, the regions SCORE improves and the
Wilcoxon p, for every run and pooled over all of them, with the pooled HD95.

    python benchmarks/bench_seeds.py [--seeds 0 1 2] [--device auto] [--quick]
    python benchmarks/bench_seeds.py --results docs/benchmark/phantom-seeds/seed*
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from benchcli import bench_parser, gain_over_initial

from scorekit.experiments.refinement import (
    REFINEMENT_PLANS,
    paired_values,
    read_refinement_results,
    run_refinement_benchmark,
)


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="the quick plan at 100 steps, seeds 0 and 1")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--results", type=Path, nargs="+",
                        help="benchmark output folders (or their results.csv) to summarise")
    args = parser.parse_args(argv)
    if args.results:
        return summarise({(path if path.is_dir() else path.parent).name: read_refinement_results(
            path / "results.csv" if path.is_dir() else path) for path in args.results})
    plan, seeds = REFINEMENT_PLANS["phantom"]["full"], args.seeds
    if args.quick:
        plan, seeds = replace(REFINEMENT_PLANS["phantom"]["quick"], steps=100), [0, 1]
    with tempfile.TemporaryDirectory(prefix="scorekit-bench-seeds-") as work:
        runs = {f"seed{seed}": read_refinement_results(run_refinement_benchmark(
            "phantom", Path(work) / f"seed-{seed}", plan=plan, methods=["initial", "SCORE"],
            seed=seed, device=args.device) / "results.csv") for seed in seeds}
    return summarise(runs)


def summarise(runs: dict[str, list[dict]]) -> dict:
    """Print and return, per run and pooled, each test set's Dice initial → SCORE."""
    test_sets = list(dict.fromkeys(r["test_set"] for rows in runs.values() for r in rows))
    figures = {}
    for test_set in test_sets:
        pooled = {"dice": ([], []), "hd95": ([], [])}  # initial, SCORE
        for run, rows in runs.items():
            for metric, (initial, score) in pooled.items():
                initial += paired_values(rows, "initial", test_set, metric)
                score += paired_values(rows, "SCORE", test_set, metric)
            figures[f"{run}, {test_set}"] = _print(run, test_set, gain_over_initial(
                paired_values(rows, "initial", test_set, "dice"),
                paired_values(rows, "SCORE", test_set, "dice")))
        figures[f"pooled, {test_set}"] = _print("pooled", test_set,
                                                gain_over_initial(*pooled["dice"]))
        hd95 = gain_over_initial(*pooled["hd95"])
        print(f"{'pooled':<10} {test_set:<13} HD95 {hd95['initial']:.2f} → "
              f"{hd95['SCORE']:.2f} mm")
    return figures


def _print(run: str, test_set: str, versus: dict) -> dict:
    print(f"{run:<10} {test_set:<13} Dice {versus['initial']:.3f} → {versus['SCORE']:.3f} "
          f"({100 * versus['gain']:+.1f} points, {versus['better']} of {versus['pairs']} "
          f"better, p {versus['p']:.2g})")
    return versus


if __name__ == "__main__":
    main()
