"""How well could any rating-only verdict do? SCORE's support criterion against the truth.

For every model of a trained method (``--method``, SCORE by default) in the given
``scorekit benchmark`` output folders (``models/<fold>/<method>`` and its training
workspace ``data/<fold>/training``, which holds the reference masks the simulated rater
rated from), the rated regions its verdict's support criterion weighed
(``trainer.verdict_evidence``) are refined by the model again, and each region's rating
benefit (``gate.benefit``: what the verdict sees) is set beside its true Dice change
(what the verdict stands for). Printed per model: the recorded verdict, whether the
model's mean Dice rose on its test scans (``verdicts.csv``), and the verdicts of the
shipped support criterion (``verdict.supported``), of the one before it (the mean benefit
two standard errors above 0) and of a mean true change above 0, the other three criteria
as recorded. Then, for every support criterion of ``SUPPORT_RULES`` (a statistic of
``STATISTICS`` on the ratings' benefit, on the benefit with quality 0's share read as
exact (the reading before), or on the true change), how often it is right and
how often it says *go* on a model that lost over half a point, and over all regions how
often the benefit's sign is the true change's (regions whose Dice moved by more than 0.1
point).

A rule that knows the truth on the evidence is right only as often as the evidence
resembles the test scans: this bounds what a better rating measure could win.
``--regions FILE`` writes every evidence region (its fold, case, rating, the shares of its
initial volume the model added and removed, benefit, true Dice change) as CSV, for other
readings of the ratings to be weighed against the same evidence.

    python benchmarks/bench_verdict.py --results DIR [DIR ...] [--method SCORE-region-free]
        [--regions evidence.csv]
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from benchcli import bench_parser
from scipy.stats import binomtest, spearmanr, wilcoxon

from scorekit.data.atomic import write_csv_atomic
from scorekit.metrics import dice
from scorekit.score.gate import benefit, volume_changes
from scorekit.score.refine import predict_probabilities, refined_labels
from scorekit.score.trainer import verdict_evidence
from scorekit.score.verdict import (
    MEDIAN_MIN_REGIONS,
    SUPPORT_REASON,
    lower_bound,
    read_verdict,
    supported,
)

# Support criteria a verdict could apply: a statistic of the evidence regions' values,
# read from the ratings (their benefit, or with quality 0 read as exact, as before) or, as
# a bound on any reading of the ratings, from the regions' true Dice change.
STATISTICS = {
    "shipped": supported,  # the median; two standard errors below three regions
    "median": lambda v: float(np.median(v)) > 0,
    "2 SE": lambda v: lower_bound(v) > 0,  # the rule before
    "median or 2 SE": lambda v: (float(np.median(v)) > 0 and len(v) >= MEDIAN_MIN_REGIONS)
    or lower_bound(v) > 0,
    "1 SE": lambda v: lower_bound(v, 1.0) > 0,
    "0.5 SE": lambda v: lower_bound(v, 0.5) > 0,
    "mean": lambda v: float(np.mean(v)) > 0,
    "sign test 5 %": lambda v: _one_sided_p(v, "sign") < 0.05,
    "Wilcoxon 5 %": lambda v: _one_sided_p(v, "wilcoxon") < 0.05,
    "most that moved improved": lambda v: float(np.mean(v[v != 0] > 0)) > 0.5
    if np.any(v != 0) else False,
}
READINGS = ("ratings", "ratings, quality 0 exact", "truth")
SUPPORT_RULES = [f"{reading}, {statistic}" for reading in READINGS for statistic in STATISTICS]
SHOWN = ("recorded", "ratings, shipped", "ratings, 2 SE", "truth, mean")  # per model
LOSS = 0.005  # a test Dice loss a go must never meet (half a point)
REGION_COLUMNS = ["fold", "case", "region", "quality", "error", "added", "removed", "benefit",
                  "dice_change"]
MOVED = 0.001  # a region's Dice change that counts for the sign agreement


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="(no effect: it trains nothing)")
    parser.add_argument("--results", type=Path, nargs="+", required=True,
                        help="scorekit benchmark output folders with models/ and data/")
    parser.add_argument("--method", default="SCORE",
                        help="the trained benchmark method whose models are judged")
    parser.add_argument("--regions", type=Path,
                        help="also write every evidence region to this CSV file")
    args = parser.parse_args(argv)
    device = args.device if args.device != "auto" else "cpu"
    models, regions = [], []
    print(f"{'model':<24} {'regions':>7} {'benefit':>8} {'true':>8} {'test':>8}  "
          + "  ".join(SHOWN))
    for folder in args.results:
        found = sorted(folder.glob(f"models/*/{args.method}"))
        if not found or not (folder / "verdicts.csv").is_file():
            raise SystemExit(f"{folder}: no models/<fold>/{args.method} and verdicts.csv of a "
                             "scorekit benchmark run with that method")
        outcomes = _test_outcomes(folder, args.method)
        for model in found:
            evidence = _evidence(folder, model, device)
            name = f"{folder.name}/{model.parent.name}"
            models.append(_judge(name, model, evidence, outcomes[model.parent.name]))
            regions += [row | {"fold": name} for row in evidence]
    if args.regions:
        write_csv_atomic(args.regions, regions, REGION_COLUMNS)
    return _print_totals(models, regions)


def _test_outcomes(folder: Path, method: str) -> dict[str, float]:
    """Per fold, the method's mean Dice change on the test scans (``verdicts.csv``)."""
    with open(folder / "verdicts.csv", newline="", encoding="utf-8") as handle:
        return {v["fold"]: float(v["dice"]) - float(v["initial_dice"])
                for v in csv.DictReader(handle) if v["method"] == method}


def _evidence(folder: Path, model: Path, device: str) -> list[dict]:
    """Each rated region the verdict weighed: its rating, the model's change (shares of the
    initial volume), the rating benefit of that change and its true Dice change."""
    workspace = folder / "data" / model.parent.name / "training"
    if not workspace.is_dir():  # the phantom suite: one training workspace
        workspace = folder / "data" / "training"
    network, config, cases = verdict_evidence(workspace, model, device)
    pairs = []
    for case in cases:
        if case.reference is None:
            raise SystemExit(f"{workspace}: case '{case.id}' has no reference masks to judge "
                             "the verdict's evidence against")
        inputs = case.inputs
        labels = refined_labels(predict_probabilities(network, inputs, config), inputs,
                                config)
        changes = volume_changes(inputs.initial, labels)
        for k, mask in enumerate(inputs.initial):
            if not mask.any():
                continue
            truth = case.reference[k].cpu().numpy()
            change = (dice((labels == k + 1).cpu().numpy(), truth)
                      - dice(mask.cpu().numpy(), truth))
            pairs += [{"case": case.id, "region": config.regions[k], "quality": int(q[k]),
                       "error": int(l_[k]), "added": changes[k][0], "removed": changes[k][1],
                       "benefit": benefit(*changes[k], int(q[k]), int(l_[k])),
                       "dice_change": change} for q, l_ in case.rating_sets]
    return pairs


def _judge(name: str, model: Path, evidence: list[dict], test_change: float) -> dict:
    verdict = read_verdict(model)
    others_hold = not [r for r in verdict["reasons"] if not r.startswith(SUPPORT_REASON)]
    values = {"ratings": np.array([r["benefit"] for r in evidence]),
              "ratings, quality 0 exact": np.array([
                  benefit(r["added"], r["removed"], r["quality"], r["error"],
                          lowest_is_floor=False) for r in evidence]),
              "truth": np.array([r["dice_change"] for r in evidence])}
    go = {"recorded": verdict["go"]} | {
        f"{reading}, {statistic}": others_hold and bool(holds(values[reading]))
        for reading in READINGS for statistic, holds in STATISTICS.items()}
    print(f"{name:<24} {len(evidence):>7} {values['ratings'].mean():+8.4f} "
          f"{values['truth'].mean():+8.4f} {test_change:+8.4f}  "
          + "  ".join(f"{'go' if go[r] else 'no-go':<{len(r)}}" for r in SHOWN))
    return {"model": name, "test_change": test_change, "go": go}


def _one_sided_p(values: np.ndarray, test: str) -> float:
    """p of the values' being above 0: sign test or Wilcoxon signed-rank, zeros dropped."""
    moved = values[values != 0]
    if not moved.size:
        return 1.0
    if test == "sign":
        return float(binomtest(int((moved > 0).sum()), moved.size, alternative="greater").pvalue)
    return float(wilcoxon(moved, alternative="greater").pvalue)


def _print_totals(models: list[dict], regions: list[dict]) -> dict:
    figures = {}
    for rule in ("recorded", *SUPPORT_RULES):
        right = sum(m["go"][rule] == (m["test_change"] > 0) for m in models)
        wrong_go = sum(m["go"][rule] and m["test_change"] < -LOSS for m in models)
        figures[rule] = right
        print(f"{rule}: right for {right} of {len(models)} models, go on {wrong_go} that "
              f"lost over {100 * LOSS:g} point")
    gains = np.array([r["benefit"] for r in regions])
    truth = np.array([r["dice_change"] for r in regions])
    moved = np.abs(truth) > MOVED
    figures["sign_agreement"] = float(np.mean((gains[moved] > 0) == (truth[moved] > 0)))
    figures["spearman"] = float(spearmanr(gains, truth)[0])
    print(f"{len(regions)} rated regions: the benefit's sign is the true Dice change's for "
          f"{figures['sign_agreement']:.0%} of the {int(moved.sum())} that moved; Spearman "
          f"{figures['spearman']:.2f}")
    return figures


if __name__ == "__main__":
    main()
