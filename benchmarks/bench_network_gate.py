"""SCORE's network applied three other ways, on the models a benchmark run kept.

For every SCORE model in the given ``scorekit benchmark`` output folders (``models/<fold>/
SCORE``, test workspaces under ``data/``), each test scan is refined by the network as
``scorekit refine --method model`` does, then:

* **gated**: keeping only the changes the model's learned gate allows
  (``gate.gate_directions``: a structure the gate keeps keeps its initial mask, one it lets
  grow keeps only the network's additions, one it lets shrink only its removals);
* **mirror-averaged** (test-time augmentation): Ŝ averaged with the network's Ŝ for the
  left-right mirrored scan, lateral regions swapped as training's flip swaps them
  (``augment.lateral_swap``), mirrored back;
* **where the scan's ratings ask**: keeping only the changes the test scan's own ratings
  (the simulated rater's, stored in the test workspace) ask for, as ``rating-guided-prior``
  reads them (``prior_refine.rated_directions``: a region rated at quality 3 or below grows
  where rated *under*, shrinks where *over*, both where *both*; others keep their mask).

Printed per folder and pooled: mean Dice of the initial masks and of each refinement on
the regions the model knows, with the gain over the initial masks (regions better /
worse, paired Wilcoxon p). All measured, all lost (``docs/evaluation.md``).

    python benchmarks/bench_network_gate.py --results DIR [DIR ...]
"""

from __future__ import annotations

from pathlib import Path

import torch
from benchcli import bench_parser, gain_over_initial

from scorekit.data.workspace import Workspace
from scorekit.metrics import dice
from scorekit.score.augment import lateral_swap
from scorekit.score.gate import gate_directions, region_brightness
from scorekit.score.inputs import case_inputs
from scorekit.score.model import load_model
from scorekit.score.prior_refine import rated_directions
from scorekit.score.refine import (
    index_of,
    network_input,
    on_image_grid,
    onto_scan,
    predict_probabilities,
    refined_labels,
    windowed_probabilities,
)

ROWS = ("initial", "network", "network, gated", "network, mirror-averaged",
        "network, where the scan's ratings ask")


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, quick="(no effect: it trains nothing)")
    parser.add_argument("--results", type=Path, nargs="+", required=True,
                        help="scorekit benchmark output folders with models/ and data/")
    args = parser.parse_args(argv)
    pooled: dict[str, list[float]] = {row: [] for row in ROWS}
    figures = {}
    for folder in args.results:
        scores = _folder_scores(folder, args.device)
        figures[folder.name] = _print(folder.name, scores)
        for row in ROWS:
            pooled[row] += scores[row]
    figures["pooled"] = _print("pooled", pooled)
    return figures


def _folder_scores(out: Path, device: str) -> dict[str, list[float]]:
    scores: dict[str, list[float]] = {row: [] for row in ROWS}
    for model in sorted(out.glob("models/*/SCORE")):
        network, config = load_model(model, device if device != "auto" else "cpu")
        fold = out / "data" / model.parent.name
        tests = [fold / "test"] if fold.is_dir() else sorted((out / "data").glob("test-*"))
        for path in tests:
            _score_workspace(Workspace(path), network, config, scores)
    return scores


def _score_workspace(workspace: Workspace, network, config, scores: dict) -> None:
    for case in workspace.cases():
        image, reference = case.image(), case.reference()
        initial = on_image_grid(case.initial(), image, case.id)
        inputs = case_inputs(image, initial, config, case.id)
        probabilities = predict_probabilities(network, inputs, config)
        labels = refined_labels(probabilities, inputs, config)
        mirrored = refined_labels(_mirror_averaged(probabilities, network, inputs, config),
                                  inputs, config)
        grow, shrink = _rated_directions(workspace.ratings.all(case.id), config.regions,
                                         case.id)
        results = {"initial": initial,
                   "network": labels,
                   "network, gated": _kept(labels, inputs.initial,
                                           *_gate_directions(inputs, config)),
                   "network, mirror-averaged": mirrored,
                   "network, where the scan's ratings ask": _kept(
                       labels, inputs.initial, grow, shrink)}
        results = {row: result if row == "initial" else
                   onto_scan(initial, result, inputs, config.regions)
                   for row, result in results.items()}
        for name in set(reference.names) & set(config.regions) & set(initial.names):
            truth = reference.mask(name)
            for row, result in results.items():
                scores[row].append(dice(result.mask(name), truth))


def _gate_directions(inputs, config) -> tuple[list[bool], list[bool]]:
    """(grow, shrink) per region as the model's learned gate allows."""
    bright = region_brightness(inputs.image, inputs.initial, inputs.grid.spacing_zyx,
                               config.intensity_window)
    return gate_directions(config.gate, config.regions, bright)


def _rated_directions(ratings, regions: list[str], case: str
                      ) -> tuple[list[bool], list[bool]]:
    """(grow, shrink) per region as the scan's ratings ask (``rated_directions``); a region
    the scan lacks, and so no rating names, keeps its (empty) mask."""
    named = {rating.region for rating in ratings}
    rated = [r for r in regions if r in named]
    asked = rated_directions(ratings, rated, case)
    grow = dict(zip(rated, asked.grow.tolist()))
    shrink = dict(zip(rated, asked.shrink.tolist()))
    return [grow.get(r, False) for r in regions], [shrink.get(r, False) for r in regions]


def _kept(labels: torch.Tensor, initial: torch.Tensor, grow: list[bool], shrink: list[bool]
          ) -> torch.Tensor:
    """``labels`` with each region's additions (removals) undone where it may not grow
    (shrink)."""
    before = index_of(initial)
    kept = labels.clone()
    for k, mask in enumerate(initial):
        mine = labels == k + 1
        undone = (mine & ~mask if not grow[k] else torch.zeros_like(mask)) | (
            mask & ~mine if not shrink[k] else torch.zeros_like(mask))
        kept[undone] = before[undone]
    return kept


def _mirror_averaged(probabilities: torch.Tensor, network, inputs, config) -> torch.Tensor:
    """``probabilities`` (the network's Ŝ) averaged with its Ŝ for the mirrored scan."""
    swap = lateral_swap(config.regions)
    x = network_input(inputs.image.flip(-1), inputs.initial.flip(-1)[swap],
                      inputs.prior.flip(-1), config)
    mirrored = windowed_probabilities(network, x, config, overlap=0.25, sw_batch_size=4)
    return (probabilities + mirrored[swap].flip(-1)) / 2


def _print(name: str, scores: dict[str, list[float]]) -> dict:
    print(f"== {name} ({len(scores['initial'])} regions): mean Dice; vs initial")
    figures = {}
    for row in ROWS:
        versus = gain_over_initial(scores["initial"], scores[row])
        figures[row] = versus
        print(f"{row:<38} {versus['SCORE']:.4f} | {100 * versus['gain']:+.2f} "
              f"({versus['better']}+/{versus['worse']}-, p {versus['p']:.2g})")
    return figures


if __name__ == "__main__":
    main()
