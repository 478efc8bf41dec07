"""How SCORE's gain grows with the initial masks' errors (humerus phantoms, quick plan).

The phantom suite's initial masks start at a Dice of 0.95–0.96, which leaves little to
gain. This runs the quick phantom plan (as ``scorekit benchmark --suite phantom --quick``)
with the initial masks' surface displacements scaled (``scorekit phantom --error-scale``)
for the initial masks, SCORE and Post-DAE+Scan, and prints the mean Dice per test set with
SCORE's gain over the initial masks and its Wilcoxon p. About 4 min per scale on 2 CPU
cores.

    python benchmarks/bench_headroom.py [--scales 1 1.5 2] [--device auto] [--quick]
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from benchcli import bench_parser
from scipy.stats import wilcoxon

from scorekit.eval.benchmark import PLANS, read_results, run_benchmark

METHODS = ["initial", "SCORE", "Post-DAE+Scan"]


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="scale 2 only, 100 steps")
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 1.5, 2.0])
    args = parser.parse_args(argv)
    plan = PLANS[("phantom", True)]
    scales = [2.0] if args.quick else args.scales
    if args.quick:
        plan = replace(plan, steps=100)
    results = {}
    with tempfile.TemporaryDirectory(prefix="scorekit-bench-headroom-") as work:
        for scale in scales:
            run = replace(plan, phantom=(*plan.phantom, ("error_scale", scale)))
            out = run_benchmark("phantom", Path(work) / f"scale-{scale}", plan=run,
                                methods=METHODS, device=args.device)
            results[scale] = _summary(read_results(out / "results.csv"))
            for test_set, means in results[scale].items():
                print(f"error scale {scale:<4} {test_set:<13} " + "  ".join(
                    f"{m} {means[m]:.3f}" for m in METHODS)
                    + f"  SCORE gain {100 * means['gain']:+.1f} points (p {means['p']:.3f})")
    return results


def _summary(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per test set: mean Dice per method, SCORE's gain over the initial masks and its p."""
    summary = {}
    for test_set in dict.fromkeys(r["test_set"] for r in rows):
        dice = {m: np.array([r["dice"] for r in sorted(
            (r for r in rows if r["method"] == m and r["test_set"] == test_set),
            key=lambda r: (r["case"], r["region"]))]) for m in METHODS}
        gain = dice["SCORE"] - dice["initial"]
        p = float(wilcoxon(gain).pvalue) if np.any(gain) else 1.0
        summary[test_set] = {m: float(d.mean()) for m, d in dice.items()} | {
            "gain": float(gain.mean()), "p": p}
    return summary


if __name__ == "__main__":
    main()
