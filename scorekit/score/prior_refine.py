"""Refinement by the boundary prior P alone, applied where it is allowed to act (with no
network: nothing learnt but, for the gate, which corrections the ratings support).

Each region's correction band Ω_corr (η around its initial surface) takes P_k > 0.5; the
rest of the scan keeps the initial mask. Which regions may grow and which may shrink is
the only thing that differs between the variants:

* ``prior-only``: every region, both ways; no ratings, no training;
* ``rating-guided-prior``: only regions the scan's own ratings call wrong enough (quality
  at or below ``RATING_GUIDE_QUALITY`` with an error label), growing only where rated
  *under* (or *both*) and shrinking only where rated *over* (or *both*): "rate this scan,
  fix it now";
* the learned gate (``gate.py``): the directions the training scans' ratings support per
  structure (or kind of structure), alone or together with this scan's own ratings: then
  a region must be rated wrong in a direction the gate allows, except that a region rated
  unusable (quality ``UNUSABLE_QUALITY``, 0) whose structure the gate knows only by its
  kind takes its rated direction whatever the kind's entry says (our choice, measured:
  ``docs/evaluation.md``). A kind's entry says where P helps masks of many structures *on
  average*; a mask its rater calls unusable has little to lose (the simulated rater's 0
  is Dice below 0.80, an open band), and the edge check still undoes a correction that
  lands on a weaker edge. A structure with an entry of its own was judged on its own
  ratings, poor masks included, and keeps that answer.

P_k is the region-aware prior of the loss (``loss.region_priors``: another region's voxel
is no evidence for this one); overlapping claims go to the highest score, as in
``refine.labels_from_probabilities``. Everything runs on the working grid
(``inputs.py``) and only the changed voxels go back onto the scan (``refine.onto_scan``).
``rating_agreement`` scores these candidates beside a model's refinement for the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from scorekit import registry
from scorekit.data.labelmap import LabelMap
from scorekit.data.ratings import BOTH, OVER, UNDER, Rating
from scorekit.data.volume import Volume
from scorekit.errors import ScoreKitError
from scorekit.score.gate import (
    WRONG_SHARE_BY_QUALITY,
    RegionEvidence,
    benefit,
    fit_gate,
    gate_directions,
    gated_errors,
    region_brightness,
    volume_changes,
)
from scorekit.score.inputs import CaseInputs, case_inputs, default_spacing, regions_extent_mm
from scorekit.score.loss import each_region_prior
from scorekit.score.model import ModelConfig
from scorekit.score.morphology import band
from scorekit.score.refine import (
    edge_checked,
    index_of,
    on_image_grid,
    onto_scan,
    predict_probabilities,
    refined_labels,
)

RATING_GUIDE_QUALITY = 3  # rating-guided-prior corrects regions rated at or below this
UNUSABLE_QUALITY = 0  # with ratings, corrected whatever the gate's kind entry says


@dataclass(frozen=True)
class Directions:
    """Per region (in ``regions`` order) whether the prior may grow / shrink it."""

    grow: torch.Tensor  # (K,) bool
    shrink: torch.Tensor  # (K,) bool


def prior_config(image: Volume, initial: LabelMap, prior: str = registry.DEFAULT_PRIOR,
                 spacing_mm: float | None = None, eta_mm: float = registry.ETA_MM
                 ) -> ModelConfig:
    """The working grid and band of a refinement without a model: the scan's finest voxel
    edge, coarsened only when its regions would not fit the memory budget."""
    regions = list(initial.names)
    spacing = spacing_mm or default_spacing(
        min(image.geometry.spacing_zyx), regions_extent_mm(initial, regions))
    return ModelConfig(regions=regions, prior=prior, spacing_mm=spacing,
                       eta=max(1, round(eta_mm / spacing)))


def every_direction(regions: int) -> Directions:
    on = torch.ones(regions, dtype=torch.bool)
    return Directions(on, on)


def rated_directions(ratings: list[Rating], regions: list[str], source: str,
                     max_quality: int = RATING_GUIDE_QUALITY) -> Directions:
    """Directions from one rater's ratings of every region (see module doc)."""
    by_region = {r.region: r for r in ratings}
    unrated = [r for r in regions if r not in by_region]
    if unrated:
        raise ScoreKitError(f"{source}: no rating for region(s) {', '.join(unrated)}; "
                            "rating-guided-prior needs every region rated")
    wrong = [by_region[r].quality <= max_quality for r in regions]
    errors = [int(by_region[r].error) for r in regions]
    grow = [w and e in (UNDER, BOTH) for w, e in zip(wrong, errors)]
    shrink = [w and e in (OVER, BOTH) for w, e in zip(wrong, errors)]
    return Directions(torch.tensor(grow), torch.tensor(shrink))


def corrected_index(inputs: CaseInputs, directions: Directions, eta: int) -> torch.Tensor:
    """(Z, Y, X) index map (0 / k + 1): P_k > 0.5 in each region's band where its direction
    allows the change, the initial masks elsewhere."""
    initial = inputs.initial
    grow, shrink = directions.grow.tolist(), directions.shrink.tolist()

    def changed(k: int, p_k: torch.Tensor) -> torch.Tensor | None:
        if not (grow[k] or shrink[k]):
            return None
        mine = initial[k]
        joins = ~mine & (p_k >= 0.5) if grow[k] else torch.zeros_like(mine)
        leaves = mine & (p_k < 0.5) if shrink[k] else torch.zeros_like(mine)
        return band(mine, eta) & (joins | leaves)

    return _index_after(inputs, changed)


def _index_after(inputs: CaseInputs, changed_of) -> torch.Tensor:
    """(Z, Y, X) index map: P_k where ``changed_of(k, P_k)`` says a region's voxel changed
    (None: none did), the initial masks elsewhere; overlapping claims go to the highest
    score (the first region on a tie), below 0.5 to background. One region at a time, so
    that a whole scan never holds K float volumes."""
    initial = inputs.initial
    best = torch.zeros(initial.shape[1:], device=initial.device)
    index = torch.zeros(initial.shape[1:], dtype=torch.long, device=initial.device)
    for k, p_k in each_region_prior(inputs.prior[0], initial):
        changed = changed_of(k, p_k)
        score = initial[k].float() if changed is None else torch.where(
            changed, p_k, initial[k].float())
        higher = score > best
        best = torch.where(higher, score, best)
        index[higher] = k + 1
    return torch.where(best >= 0.5, index, torch.zeros_like(index))


def rated_shares(ratings: list[Rating], regions: list[str], source: str,
                 max_quality: int = RATING_GUIDE_QUALITY) -> tuple[torch.Tensor, torch.Tensor]:
    """Per region, the (grow, shrink) share of its volume one rater's ratings ask for: the
    wrong share its quality implies (``gate.WRONG_SHARE_BY_QUALITY``), added where rated
    *under*, removed where *over*, half of each where *both*; 0 above ``max_quality``."""
    directions = rated_directions(ratings, regions, source, max_quality)
    by_region = {r.region: r for r in ratings}
    wrong = torch.tensor([WRONG_SHARE_BY_QUALITY[by_region[r].quality] for r in regions])
    halves = torch.where(directions.grow & directions.shrink, 0.5, 1.0)
    return wrong * halves * directions.grow, wrong * halves * directions.shrink


def _strongest(candidates: torch.Tensor, strength: torch.Tensor, count: int) -> torch.Tensor:
    """The ``count`` candidate voxels of highest ``strength`` (all when fewer; ties broken
    by position, so never more)."""
    where = candidates.flatten().nonzero()[:, 0]
    if where.numel() <= max(count, 0):
        return candidates
    chosen = torch.zeros(candidates.numel(), dtype=torch.bool, device=candidates.device)
    if count > 0:
        chosen[where[torch.topk(strength.flatten()[where], count).indices]] = True
    return chosen.view(candidates.shape)


def sized_index(inputs: CaseInputs, grow_share: torch.Tensor, shrink_share: torch.Tensor,
                eta: int) -> torch.Tensor:
    """(Z, Y, X) index map: each region's band changed by at most the share of its volume
    given (``rated_shares``), taking the voxels where P_k speaks most clearly: joining
    where P_k ≥ 0.5, highest first; leaving where P_k < 0.5, lowest first. The prior says
    where, the rating how much."""
    initial = inputs.initial

    def changed(k: int, p_k: torch.Tensor) -> torch.Tensor:
        mine, volume = initial[k], int(initial[k].sum())
        in_band = band(mine, eta)
        joins = _strongest(in_band & ~mine & (p_k >= 0.5), p_k,
                           round(float(grow_share[k]) * volume))
        leaves = _strongest(in_band & mine & (p_k < 0.5), -p_k,
                            round(float(shrink_share[k]) * volume))
        return joins | leaves

    return _index_after(inputs, changed)


def refine_with_prior(image: Volume, initial: LabelMap, directions: Directions | None = None,
                      config: ModelConfig | None = None, source: str = "case",
                      device: str | torch.device = "cpu") -> LabelMap:
    """``initial`` corrected by the prior in the allowed directions (all when None)."""
    initial = on_image_grid(initial, image, source)
    config = config or prior_config(image, initial)
    inputs = case_inputs(image, initial, config, source, device)
    directions = directions or every_direction(len(config.regions))
    refined = corrected_index(inputs, directions, config.eta)
    return onto_scan(initial, refined, inputs, config.regions)


def prior_only(image: Volume, initial: LabelMap, source: str = "case", **grid) -> LabelMap:
    """The ``prior-only`` refinement (module doc); ``grid``: ``prior_config``'s options."""
    return refine_with_prior(image, initial, None, prior_config(image, initial, **grid), source)


def rating_guided_prior(image: Volume, initial: LabelMap, ratings: list[Rating],
                        source: str = "case", max_quality: int = RATING_GUIDE_QUALITY,
                        **grid) -> LabelMap:
    """The ``rating-guided-prior`` refinement with one rater's ratings of this scan."""
    config = prior_config(image, initial, **grid)
    directions = rated_directions(ratings, config.regions, source, max_quality)
    return refine_with_prior(image, initial, directions, config, source)


# -- the learned gate (gate.py) -----------------------------------------------------------------
def proposed_changes(inputs: CaseInputs, eta: int) -> list[tuple[float, float]]:
    """Per region (added, removed) share of its initial volume that ``prior-only`` makes."""
    proposed = corrected_index(inputs, every_direction(len(inputs.initial)), eta)
    return volume_changes(inputs.initial, proposed)


def region_evidence(inputs: CaseInputs, config: ModelConfig, rating_sets
                    ) -> list[RegionEvidence]:
    """The gate's evidence from one case: each rating of a region its scan shows, beside
    the prior's proposal there and the region's kind. ``rating_sets``: (q, l) per region
    of ``config.regions``, one pair per rater."""
    changes = proposed_changes(inputs, config.eta)
    present = inputs.initial.flatten(1).any(1).tolist()
    bright = region_brightness(inputs.image, inputs.initial, inputs.grid.spacing_zyx,
                               config.intensity_window)
    return [RegionEvidence(region, *changes[k], int(q[k]), int(l_[k]), bright[k])
            for q, l_ in rating_sets for k, region in enumerate(config.regions) if present[k]]


def gated_rating_sets(inputs: CaseInputs, config: ModelConfig, rating_sets) -> list:
    """A case's rating sets with the directions ``config.gate`` forbids taken out of their
    error labels (``gate.gated_errors``): what SCORE's loss sees with ``gated_labels``."""
    bright = region_brightness(inputs.image, inputs.initial, inputs.grid.spacing_zyx,
                               config.intensity_window)
    grow, shrink = gate_directions(config.gate, config.regions, bright)
    return [(q, gated_errors(l_, grow, shrink)) for q, l_ in rating_sets]


def workspace_gate(ws, prior: str = registry.DEFAULT_PRIOR) -> dict[str, str]:
    """The gate fitted to every rated case of a workspace (each rater's ratings)."""
    evidence = []
    for case in ws.cases():
        image, initial = case.image(), case.initial()
        by_rater: dict[str, dict[str, Rating]] = {}
        for rating in ws.ratings.all(case.id):
            by_rater.setdefault(rating.rater, {})[rating.region] = rating
        config = prior_config(image, initial, prior)
        sets = [(torch.tensor([r[n].quality for n in config.regions]),
                 torch.tensor([int(r[n].error) for n in config.regions]))
                for r in by_rater.values() if set(config.regions) <= set(r)]
        if sets:
            inputs = case_inputs(image, initial, config, f"case '{case.id}'")
            evidence += region_evidence(inputs, config, sets)
    if not evidence:
        raise ScoreKitError(f"{ws.path}: no case has ratings for all of its regions")
    return fit_gate(evidence)


def gated_prior(image: Volume, initial: LabelMap, gate: dict[str, str], source: str = "case",
                ratings: list[Rating] | None = None, **grid) -> LabelMap:
    """The ``learned-gate`` refinement: the prior in the directions the gate allows; with
    this scan's ``ratings`` (one rater's), only where they also call the region wrong and
    in the direction they give (``learned-gate+ratings``); either way only where the
    correction lands on a stronger edge (``gate.moved_edges``)."""
    initial = on_image_grid(initial, image, source)
    config = replace(prior_config(image, initial, **grid), gate=gate)
    inputs = case_inputs(image, initial, config, source)
    refined = gated_index(inputs, config, ratings, source)
    return onto_scan(initial, refined, inputs, config.regions)


def gated_index(inputs: CaseInputs, config: ModelConfig, ratings: list[Rating] | None = None,
                source: str = "case") -> torch.Tensor:
    """The learned gate's index map over the crop: the prior's correction in the
    directions of each region's structure (or kind), and of this scan's ``ratings`` where
    given (a region rated unusable whose structure has no entry of its own: its rated
    direction alone; module doc), then the edge check (``refine.edge_checked``)."""
    bright = region_brightness(inputs.image, inputs.initial, inputs.grid.spacing_zyx,
                               config.intensity_window)
    grow, shrink = (torch.tensor(d) for d in gate_directions(config.gate, config.regions,
                                                              bright))
    if ratings is not None:
        rated = rated_directions(ratings, config.regions, source)
        unusable = rated_directions(ratings, config.regions, source, UNUSABLE_QUALITY)
        known_only_by_kind = ~torch.tensor([region in config.gate for region in config.regions])
        grow = (grow & rated.grow) | (unusable.grow & known_only_by_kind)
        shrink = (shrink & rated.shrink) | (unusable.shrink & known_only_by_kind)
    return edge_checked(inputs, corrected_index(inputs, Directions(grow, shrink), config.eta))


def rating_agreement(cases, network: torch.nn.Module, config: ModelConfig,
                     refined: dict | None = None) -> dict[str, list[float]]:
    """The benefit (``gate.py``) of each candidate refinement's change to every rated
    region of ``cases`` (the trainer's rated cases): the initial masks (0), the model's,
    the learned gate's (when the model has one) and prior-only's. ``refined``: the model's
    index maps already computed, by case id (the others are predicted here)."""
    candidates = ["initial", "model", *(["learned-gate"] if config.gate else []), "prior-only"]
    gains: dict[str, list[float]] = {name: [] for name in candidates}
    refined = refined or {}
    for case in cases:
        inputs = case.inputs
        model = refined.get(case.id)
        if model is None:
            model = refined_labels(predict_probabilities(network, inputs, config), inputs,
                                   config)
        outputs = {
            "initial": index_of(inputs.initial),
            "model": model,
            "prior-only": corrected_index(inputs, every_direction(len(config.regions)),
                                          config.eta)}
        if config.gate:
            outputs["learned-gate"] = gated_index(inputs, config)
        present = inputs.initial.flatten(1).any(1).tolist()
        for name, index in outputs.items():
            changes = volume_changes(inputs.initial, index)
            gains[name] += [benefit(*changes[k], int(q[k]), int(l_[k]))
                            for q, l_ in case.rating_sets
                            for k in range(len(config.regions)) if present[k]]
    return gains
