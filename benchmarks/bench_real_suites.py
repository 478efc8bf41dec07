"""SCORE against what needs no learning, on real CT: per suite and pooled.

Runs the real suites (as ``scorekit benchmark --suite verse|folder --quick``, methods
initial, prior-only, rating-guided-prior, learned-gate, learned-gate+ratings and SCORE)
on the shared scans, or reads the output folders of such runs (``--results``), and
prints per suite and pooled over all of them the mean Dice of each row, the gain of what
``scorekit refine`` applies (``SCORE-default`` on an unrated scan, ``learned-gate+ratings``
on a rated one) over the initial masks and over prior-only with the paired Wilcoxon p,
and how often each model's verdict was right (go / no-go against its Dice; the
refinement it named against the best of the candidates, and where it lost to the initial
masks).

    python benchmarks/bench_real_suites.py [--quick] [--device auto]
    python benchmarks/bench_real_suites.py --results docs/benchmark/*-quick

With ``--results``, ``--rows`` chooses the rows of the table and ``--compare`` those whose
gains are printed (for runs with other ``--methods``, such as SCORE's training variants).
"""

from __future__ import annotations

import csv
import tempfile
from dataclasses import replace
from pathlib import Path

from benchcli import bench_parser, gain_over_initial

from scorekit.experiments.refinement import (
    DEFAULT_ROW,
    REFINEMENT_PLANS,
    read_refinement_results,
    run_refinement_benchmark,
)
from scorekit.registry import LEARNED_GATE, RATED_GATE

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ct"
SUITES = {  # name → (suite, folder, options)
    "verse19": ("verse", "verse19", {}),
    "totalseg-subjects": ("folder", "totalseg-subjects", {}),
    "openkbp-headneck": ("folder", "openkbp-headneck", {"folds": 5}),
}
METHODS = ["initial", "prior-only", "rating-guided-prior", LEARNED_GATE, RATED_GATE, "SCORE"]
ROWS = [*METHODS, DEFAULT_ROW]
DEFAULTS = (DEFAULT_ROW, RATED_GATE)  # what `scorekit refine` applies: unrated / rated scan


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="100 steps, at most 8 cases and 2 folds a suite")
    parser.add_argument("--results", type=Path, nargs="+",
                        help="benchmark output folders to summarise (no training)")
    parser.add_argument("--rows", type=lambda text: text.split(","), default=ROWS,
                        help="comma-separated rows of the table (default: %(default)s)")
    parser.add_argument("--compare", type=lambda text: text.split(","), default=DEFAULTS,
                        help="rows whose gains over initial and prior-only are printed")
    args = parser.parse_args(argv)
    if args.results:
        return summarise({path.name: _outputs(path) for path in args.results},
                         args.rows, args.compare)
    runs = {}
    with tempfile.TemporaryDirectory(prefix="scorekit-bench-real-") as work:
        for name, (suite, folder, options) in SUITES.items():
            if not (DATA / folder).is_dir():
                print(f"{name}: skipped, no data at {DATA / folder}")
                continue
            plan = REFINEMENT_PLANS[suite]["quick"]
            if args.quick:
                plan, options = replace(plan, steps=100, max_cases=8), {"folds": 2}
            out = run_refinement_benchmark(suite, Path(work) / name, data=DATA / folder,
                                           plan=plan, methods=METHODS, device=args.device,
                                           **options)
            runs[name] = _outputs(out)
    return summarise(runs)


def _outputs(folder: Path) -> tuple[list[dict], list[dict]]:
    with open(folder / "verdicts.csv", newline="", encoding="utf-8") as handle:
        verdicts = list(csv.DictReader(handle))
    return read_refinement_results(folder / "results.csv"), verdicts


def summarise(runs: dict[str, tuple[list[dict], list[dict]]], table=ROWS,
              compare=DEFAULTS) -> dict:
    """Print and return the table per suite and pooled, and the verdicts' record."""
    figures = {}
    pooled: list[dict] = []
    print(f"{'suite':<18} {'pairs':>5} " + " ".join(f"{m[:12]:>12}" for m in table))
    for name, (rows, _) in runs.items():
        pooled += [dict(r, case=f"{name}/{r['case']}") for r in rows]
        figures[name] = _print_suite(name, rows, table, compare)
    figures["pooled"] = _print_suite("pooled", pooled, table, compare)
    verdicts = [v for _, listed in runs.values() for v in listed]
    figures["verdicts"] = _print_verdicts(verdicts)
    return figures


def _paired(rows: list[dict], method: str) -> dict[tuple, float]:
    return {(r["test_set"], r["case"], r["region"]): float(r["dice"])
            for r in rows if r["method"] == method}


def _print_suite(name: str, rows: list[dict], table=ROWS, compare=DEFAULTS) -> dict:
    by_method = {m: _paired(rows, m) for m in table}
    keys = sorted(set.intersection(*(set(v) for v in by_method.values() if v)))
    means = {m: sum(v[k] for k in keys) / len(keys) for m, v in by_method.items() if v}
    print(f"{name:<18} {len(keys):>5} " + " ".join(
        f"{means[m]:>12.4f}" if m in means else f"{'-':>12}" for m in table))
    figures = {"pairs": len(keys), "mean_dice": means}
    for row in (r for r in compare if r in means):
        for baseline in (b for b in ("initial", "prior-only") if b in means):
            versus = gain_over_initial([by_method[baseline][k] for k in keys],
                                       [by_method[row][k] for k in keys])
            figures[f"{row} vs {baseline}"] = versus
            print(f"{'':<18} {row} vs {baseline}: {100 * versus['gain']:+.2f} points, "
                  f"{versus['better']} better / {versus['worse']} worse of "
                  f"{versus['pairs']}, p {versus['p']:.2g}")
    return figures


def _print_verdicts(verdicts: list[dict]) -> dict:
    right = [v["right"] == "True" for v in verdicts]
    named = [v["use_right"] == "True" for v in verdicts if v.get("use_right") in ("True", "False")]
    false_go = [v for v in verdicts if v["go"] == "True"
                and float(v["dice"]) < float(v["initial_dice"]) - 0.005]
    named_lost = [v for v in verdicts if v.get("use_dice")
                  and float(v["use_dice"]) < float(v["initial_dice"]) - 0.005]
    print(f"verdicts: go / no-go right for {sum(right)} of {len(right)} models; named "
          f"refinement the best (within 0.1 point) for {sum(named)} of {len(named)}; go where "
          f"the model lost over 0.5 point: {len(false_go)}; named refinement lost over 0.5 "
          f"point: {len(named_lost)}")
    return {"right": sum(right), "named_right": sum(named), "models": len(right),
            "false_go": len(false_go), "named_lost": len(named_lost)}


if __name__ == "__main__":
    main()
