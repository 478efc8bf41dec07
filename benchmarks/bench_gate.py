"""Where to let the prior correct: the learned gate's variants against the rows that need
no learning, per region, on real CT.

For every case of the real suites (VerSe pairs with ``--data``, folders of CT + label map
+ names with ``--folder``; model-like initial masks and simulated ratings as in
``scorekit benchmark``) it computes, on the working grid, each region's Dice against the
reference for the initial mask and for the prior's correction in both directions, growth
only and shrinkage only, beside the region's rating, the prior's proposal and its kind.
Then, cross-validated by case (leave-one-case-out, or ``--folds K`` for a folder), each
candidate picks an option per test region and the Dice it gets is printed, per suite and
pooled, against the initial masks and prior-only (mean gain, regions better / worse,
paired Wilcoxon p). No network is trained, so every candidate sees the same regions:

* ``prior-only``: both directions everywhere; ``rating-guided-prior``: the test scan's
  own ratings decide (q ≤ 3 with an error label, its direction);
* gate variants (``score/gate.py``): per structure with one or two standard errors, with
  or without the kind (bright rim) for structures with few ratings, or fitted to the
  benefit in Dice units (``dice_benefit``); ``gate`` is the default; ``gate+rating``: the
  default gate where the test ratings also call the region wrong, in the directions both
  allow, and in its rated direction alone where the rating says unusable (quality 0,
  ``prior_refine.UNUSABLE_QUALITY``) and the gate knows the structure only by its kind;
  beside it with the gate deciding those too (the earlier default), with the rating
  overriding a structure's own entry too, and with qualities up to 1 taken as unusable;
* ``rating-sized-prior``: the test scan's ratings say how much (the wrong share their
  quality implies, in their direction), the prior where (``prior_refine.sized_index``);
  ``gate+sized``: that where the default gate acts;
* ``gate, proposals <= c``: the default gate fitted to and applied on regions whose prior
  proposal changes at most c of their volume (others keep);
* the edge check (``gate.moved_edges``: an option only where the surface it moves lands
  on a stronger image edge): alone on prior-only's correction, choosing the option whose
  new surface gains most edge, after the default gate (the default refinement, with and
  without the test scan's ratings), and with margins above 1;
* ``region-learned``: not per structure but per region, from what the region shows: a
  ridge regression per option of the rating's benefit on the proposal's size, its edge
  gain and the region's kind, fitted to the training regions; the option predicted best
  where its prediction is above 0 (``∧ gate``: within what the default gate allows), then
  the edge check;
* ``oracle``: the best option per region with the reference known (the ceiling).

    python benchmarks/bench_gate.py --data ../shared/data/ct/verse19 \\
        --folder ../shared/data/ct/totalseg-subjects --folder ../shared/data/ct/openkbp-headneck
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from benchcli import bench_parser, gain_over_initial

from scorekit.data.ratings import BOTH, NONE, OVER, UNDER
from scorekit.data.scanfolder import chosen_regions, default_structures
from scorekit.data.verse import VERSE_NAMES
from scorekit.experiments.refinement import (
    fold_groups,
    folder_sources,
    initial_masks,
    only_regions,
    verse_sources,
)
from scorekit.metrics import dice
from scorekit.score.gate import (
    KINDS,
    RegionEvidence,
    benefit,
    fit_gate,
    moved_edges,
    option_change,
    region_brightness,
    volume_changes,
)
from scorekit.score.inputs import case_inputs, working_masks
from scorekit.score.prior_refine import (
    UNUSABLE_QUALITY,
    Directions,
    corrected_index,
    prior_config,
    rated_shares,
    sized_index,
)
from scorekit.synth.rater import DICE_TO_QUALITY, simulated_rating

OPTIONS = ("keep", "both", "grow", "shrink")  # what the gate chooses among (the oracle too)
OPTION_DIRECTIONS = {"both": (True, True), "grow": (True, False), "shrink": (False, True)}
# A rating's quality → the middle of the simulated rater's Dice band (0.70 below its lowest)
DICE_BY_QUALITY = {5: 1.0, 0: 0.70} | {
    quality: (low + high) / 2 for (low, quality), high
    in zip(DICE_TO_QUALITY, [1.0] + [low for low, _ in DICE_TO_QUALITY])}


def dice_benefit(added: float, removed: float, quality: int, error: int) -> float:
    """The benefit of a change in Dice units (measured, lost): a mask of Dice d rated under
    misses 2(1 − d)/d of its volume, one rated over holds 2(1 − d)/(2 − d) too much, a
    displaced one (both) 1 − d of each; the change scores the Dice it reaches if its added
    voxels fill the missing part first and its removed ones leave the extra part first,
    less d. Bounded like Dice, but it trusts where the change lands: a change twice the
    rated size still gains, where ``gate.benefit`` counts the excess as error."""
    d = DICE_BY_QUALITY[int(quality)]
    missing, extra = {UNDER: (2 * (1 - d) / d, 0.0), OVER: (0.0, 2 * (1 - d) / (2 - d)),
                      BOTH: (1 - d, 1 - d)}.get(error, (0.0, 0.0))

    def reached(a: float, r: float) -> float:
        overlap = 1 - extra + min(a, missing) - max(r - extra, 0.0)
        return 2 * overlap / (2 + a - r + missing - extra)

    return reached(added, removed) - reached(0.0, 0.0)


GATES = {  # name → fit_gate options
    "gate 1 SE, by name": {"standard_errors": 1.0, "min_regions": 2, "by_kind": False},
    "gate 2 SE, by name": {"standard_errors": 2.0, "min_regions": 2, "by_kind": False},
    "gate (2 SE, by name or kind)": {},
    "gate, benefit in Dice units": {"measure": dice_benefit},
}
# the default gate fitted to, and applied on, regions where the prior's proposal changes at
# most this share of the volume (a larger change is a different segmentation, not a
# boundary correction); measured, lost
PROPOSAL_CAPS = (0.03, 0.05, 0.1, 0.2)
EDGE_MARGINS = (1.1, 1.25, 1.5)  # the new surface's edge must exceed the old one's this much


RIDGE = 1e-2  # the region-learned decision's ridge penalty


@dataclass(frozen=True)
class Region:
    evidence: RegionEvidence
    case: str
    dice: dict[str, float]  # option (keep, both, grow, shrink) → Dice
    edge: dict[str, tuple[float, float]]  # option → mean |∇I| on the moved surface:
    # the initial's, the option's


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="at most 6 cases a folder")
    parser.add_argument("--data", type=Path, help="folder of VerSe pairs")
    parser.add_argument("--folder", type=Path, action="append", default=[])
    parser.add_argument("--folds", type=int, default=5, help="for folders over 10 cases")
    args = parser.parse_args(argv)
    suites = {}
    if args.data:
        suites["verse"] = (_regions(verse_sources(args.data), None, VERSE_NAMES), None)
    for folder in args.folder:
        limit = 6 if args.quick else None
        sources = folder_sources(folder, limit)
        regions = _regions(sources, default_structures(folder, limit), None)
        suites[folder.name] = (regions, args.folds if len(sources) > 10 else None)
    if not suites:
        print("gate: skipped, no --data or --folder given")
        return {}
    pooled: dict[str, list[tuple[float, float, float]]] = {}
    figures = {}
    for name, (regions, folds) in suites.items():
        scores = cross_validated(regions, folds)
        figures[name] = _print(name, scores)
        for candidate, values in scores.items():
            pooled.setdefault(candidate, []).extend(values)
    figures["pooled"] = _print("pooled", pooled)
    return figures


def _regions(sources, structures, names) -> list[Region]:
    regions = []
    for source in sources:
        image, labels = source.read()
        reference = only_regions(labels, chosen_regions(labels, structures))
        if not reference.regions:
            continue
        initial = initial_masks("model-like", source.case_id, image, reference, 0, names)
        config = prior_config(image, initial)
        inputs = case_inputs(image, initial, config, source.case_id)
        truth = working_masks(reference, config.regions, inputs, source.case_id).numpy()
        count = len(config.regions)
        outputs = {option: corrected_index(inputs, Directions(torch.tensor([g] * count),
                                                              torch.tensor([s] * count)),
                                           config.eta)
                   for option, (g, s) in OPTION_DIRECTIONS.items()}
        ratings = [simulated_rating(source.case_id, name, reference.mask(name),
                                    initial.mask(name)) for name in config.regions]
        outputs["sized"] = sized_index(inputs, *rated_shares(ratings, config.regions,
                                                             source.case_id), config.eta)
        changes = volume_changes(inputs.initial, outputs["both"])
        bright = region_brightness(inputs.image, inputs.initial, inputs.grid.spacing_zyx,
                                   config.intensity_window)
        masks = inputs.initial.numpy()
        edges = {option: moved_edges(inputs.image, inputs.initial, outputs[option],
                                     inputs.grid.spacing_zyx)
                 for option in OPTION_DIRECTIONS}
        for k, (name, rating) in enumerate(zip(config.regions, ratings)):
            if not masks[k].any() or not truth[k].any():
                continue
            scores = {"keep": dice(masks[k], truth[k])} | {
                option: dice((index == k + 1).numpy(), truth[k])
                for option, index in outputs.items()}
            regions.append(Region(RegionEvidence(name, *changes[k], rating.quality,
                                                 int(rating.error), bright[k]),
                                  source.case_id, scores,
                                  {option: e[k] for option, e in edges.items()}))
    return regions


def rated_option(evidence: RegionEvidence, max_quality: int = 3) -> str:
    if evidence.quality > max_quality or evidence.error == NONE:
        return "keep"
    return {UNDER: "grow", OVER: "shrink", BOTH: "both"}[evidence.error]


def rated_gate(gate: dict[str, str], evidence: RegionEvidence,
               unusable: int = UNUSABLE_QUALITY, own_entries_decide: bool = True) -> str:
    """The gate's option with the test scan's rating (``prior_refine.gated_index``): what
    both allow, or the rated direction alone for a region rated at or below ``unusable``
    (whose structure has no entry of its own, unless ``own_entries_decide`` is off)."""
    if evidence.quality <= unusable and not (own_entries_decide and evidence.structure in gate):
        return rated_option(evidence)
    return _both_allow(_option(gate, evidence), rated_option(evidence))


def _both_allow(first: str, second: str) -> str:
    allowed = [a and b for a, b in zip(OPTION_DIRECTIONS.get(first, (False, False)),
                                       OPTION_DIRECTIONS.get(second, (False, False)))]
    return {(True, True): "both", (True, False): "grow", (False, True): "shrink",
            (False, False): "keep"}[tuple(allowed)]


def cross_validated(regions: list[Region], folds: int | None
                    ) -> dict[str, list[tuple[float, float, float]]]:
    """Per candidate, (its Dice, initial Dice, prior-only Dice) of every test region whose
    structure the training cases show."""
    scores: dict[str, list[tuple[float, float, float]]] = {}

    def add(candidate: str, region: Region, option: str) -> None:
        scores.setdefault(candidate, []).append(
            (region.dice[option], region.dice["keep"], region.dice["both"]))

    for _, tests in fold_groups(sorted({r.case for r in regions}), folds):
        training = [r for r in regions if r.case not in tests]
        known = {r.evidence.structure for r in training}
        gates = {name: fit_gate([r.evidence for r in training], **options)
                 for name, options in GATES.items()}
        learned = _fit_region_decision(training)
        capped = {cap: fit_gate([r.evidence for r in training if _proposal(r) <= cap])
                  for cap in PROPOSAL_CAPS}
        for region in (r for r in regions if r.case in tests and r.evidence.structure in known):
            add("initial", region, "keep")
            add("prior-only", region, "both")
            add("rating-guided-prior", region, rated_option(region.evidence))
            add("rating-sized-prior", region, "sized")
            for name, gate in gates.items():
                add(name, region, _option(gate, region.evidence))
            default_gate = gates["gate (2 SE, by name or kind)"]
            default = _option(default_gate, region.evidence)
            add("gate+rating", region, rated_gate(default_gate, region.evidence))
            add("gate+sized", region, "keep" if default == "keep" else "sized")
            for cap, gate in capped.items():
                add(f"gate, proposals <= {cap:.0%}", region,
                    _option(gate, region.evidence) if _proposal(region) <= cap else "keep")
            add("edge check alone", region, _on_edge(region, "both"))
            add("edge: strongest option", region, max(
                OPTIONS, key=lambda o: 0 if o == "keep" else region.edge[o][1] - region.edge[o][0]))
            add("gate+edge (default)", region, _on_edge(region, default))
            for margin in EDGE_MARGINS:
                add(f"gate+edge, margin {margin}", region, _on_edge(region, default, margin))
            add("gate+rating+edge (default, rated)", region, _on_edge(
                region, rated_gate(default_gate, region.evidence)))
            add("gate+rating+edge, the gate decides unusable too", region, _on_edge(
                region, _both_allow(default, rated_option(region.evidence))))
            add("gate+rating+edge, unusable overrides own entries too", region, _on_edge(
                region, rated_gate(default_gate, region.evidence, own_entries_decide=False)))
            add("gate+rating+edge, q <= 1 taken as unusable", region, _on_edge(
                region, rated_gate(default_gate, region.evidence, 1)))
            decided = _region_decision(learned, region)
            add("region-learned", region, _on_edge(region, decided))
            add("region-learned ∧ gate", region,
                _on_edge(region, _both_allow(default, decided)))
            add("oracle", region, max(OPTIONS, key=lambda o: region.dice[o]))
    return scores


def _region_features(region: Region, option: str) -> np.ndarray:
    """What a region shows of an option without ratings: the shares it adds and removes,
    the log ratio of the edge it lands on to the edge it leaves, and the region's kind."""
    evidence = region.evidence
    added, removed = option_change(option, evidence.added, evidence.removed)
    before, after = region.edge[option]
    ratio = np.log((after + 1e-3) / (before + 1e-3))
    bright = float(evidence.bright)
    return np.array([1.0, bright, added, removed, added + removed, ratio,
                     bright * (added + removed), bright * ratio])


def _fit_region_decision(training: list[Region]) -> dict[str, np.ndarray]:
    """Per option, ridge weights predicting the rating's benefit from the features."""
    weights = {}
    for option in OPTION_DIRECTIONS:
        x = np.stack([_region_features(r, option) for r in training])
        y = np.array([benefit(*option_change(option, r.evidence.added, r.evidence.removed),
                              r.evidence.quality, r.evidence.error) for r in training])
        weights[option] = np.linalg.solve(x.T @ x + RIDGE * np.eye(x.shape[1]), x.T @ y)
    return weights


def _region_decision(weights: dict[str, np.ndarray], region: Region) -> str:
    predicted = {o: float(_region_features(region, o) @ w) for o, w in weights.items()}
    best = max(predicted, key=lambda o: predicted[o])
    return best if predicted[best] > 0 else "keep"


def _on_edge(region: Region, option: str, margin: float = 1.0) -> str:
    """``option`` where its new surface lies on a stronger edge than the surface it moves."""
    if option == "keep":
        return option
    before, after = region.edge[option]
    return option if after > margin * before else "keep"


def _proposal(region: Region) -> float:
    return region.evidence.added + region.evidence.removed


def _option(gate: dict[str, str], evidence: RegionEvidence) -> str:
    return gate.get(evidence.structure, gate.get(KINDS[evidence.bright], "keep"))


def _print(suite: str, scores: dict[str, list[tuple[float, float, float]]]) -> dict:
    figures = {}
    print(f"== {suite} ({len(scores['initial'])} regions): mean Dice; vs initial; vs prior-only")
    for candidate, values in scores.items():
        mine, initial, prior = (np.array(v) for v in zip(*values))
        versus = {base: gain_over_initial(reference, mine)
                  for base, reference in (("initial", initial), ("prior-only", prior))}
        figures[candidate] = {"dice": float(mine.mean())} | versus
        print(f"{candidate:<30} {mine.mean():.4f}" + "".join(
            f" | {100 * v['gain']:+.2f} ({v['better']}+/{v['worse']}-, p {v['p']:.2g})"
            for v in versus.values()))
    return figures


if __name__ == "__main__":
    main()
