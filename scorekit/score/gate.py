"""The learned gate: per structure, which corrections of the prior P its ratings support.

The edge prior knows how to move a boundary, not whether it should: on vertebrae it moves
poor masks to the bone's edge, on the spinal cord or a parotid gland (no bright rim) it
moves good masks away from theirs. The ratings say which: over the training scans'
regions of structure s, each option o (``both`` directions, ``grow`` only, ``shrink``
only, ``keep``) is scored by how well the change it makes agrees with the region's rating,
and s gets the option that agrees best on average, where that mean exceeds 0 by
``registry.RATING_EVIDENCE_SE`` standard errors (else ``keep``). A structure with fewer than
``MIN_REGIONS`` rated regions, or none, takes the option of its *kind*, fitted the same
way to all training regions of that kind: ``bright`` where the region is more than
``BRIGHT_HU`` brighter just inside its initial surface than just outside (bone: where the
edge prior has an edge to find), ``other`` elsewhere. Fitting needs no network; SCORE's
trainer fits it beside the network, stores it in the model, and its verdict weighs the
gate's refinement against the network's (``choice.py``). The choices were measured on
the real suites (``docs/evaluation.md``).

**Agreement with a rating** (our measure; the SCORE paper has none). A rating (q, l)
implies a wrong volume share e(q) (``WRONG_SHARE_BY_QUALITY``: the simulated rater's Dice
bands read as 1 − Dice) to be added (l = under), removed (over), or half of each (both).
A change that adds a share A and removes R of the initial volume misses the rating by

    under: |A − e| + R     over: |R − e| + A     both: |A − e/2| + |R − e/2|     none: A + R

and the initial masks (A = R = 0) miss it by e. ``benefit`` = miss(initial) − miss(change):
positive where the change does what the rating asked, by about as much. The lowest
quality's band is open (Dice below 0.80: at least 30 % wrong), so there e is a floor:
rated under, a change adding A ≥ e misses it by R alone (max(e − A, 0) + R; over alike).
Read as exact, a subclavian artery rated 0 / under whose Dice rose 29 points by growing
three times its volume counted as a loss. *Both* keeps |·|: how a floor splits between
the directions is unknown.

**The edge check** (ours; needs no ratings). Where the gate lets the prior act, a region
takes the correction only if the part of its surface the correction moves lands on a
stronger image edge than the part it leaves: the mean gradient magnitude |∇I| over the
new surface voxels exceeds that over the abandoned ones (``moved_edges``). The prior
moves boundaries towards edges, but on soft tissue it also moves good masks off a faint
true edge across flat tissue; the check undoes what the image itself does not support
(``refine.edge_checked``, which SCORE's network's changes pass too). No threshold: margins
of 1.1–1.5 measured the same (``benchmarks/bench_gate.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from scorekit.data.ratings import BOTH, NONE, OVER, UNDER
from scorekit.registry import RATING_EVIDENCE_SE
from scorekit.score.verdict import lower_bound

OPTIONS = ("both", "grow", "shrink", "keep")
# A rating's quality → the share of the region's volume it says is wrong.
WRONG_SHARE_BY_QUALITY = {5: 0.0, 4: 0.02, 3: 0.05, 2: 0.10, 1: 0.16, 0: 0.30}
LOWEST_QUALITY = min(WRONG_SHARE_BY_QUALITY)  # its share is a floor (module doc)
MIN_REGIONS = 3  # rated regions a structure needs for an entry of its own
BRIGHT_HU = 100.0  # inside minus outside, medians within RIM_MM of the initial surface
RIM_MM = 2.0
KINDS = {True: "*bright", False: "*other"}  # the gate's entries per kind


def miss(added: float, removed: float, quality: int, error: int,
         lowest_is_floor: bool = True) -> float:
    """How far a change (shares of the initial volume) is from what the rating asks;
    ``lowest_is_floor=False``: the lowest quality's share read as exact, as before."""
    e = WRONG_SHARE_BY_QUALITY[int(quality)]
    floor = lowest_is_floor and int(quality) == LOWEST_QUALITY
    if error == UNDER:
        return _short_of(added, e, floor) + removed
    if error == OVER:
        return _short_of(removed, e, floor) + added
    if error == BOTH:
        return abs(added - e / 2) + abs(removed - e / 2)
    return added + removed


def _short_of(done: float, asked: float, floor: bool) -> float:
    """How far ``done`` is from ``asked``: only below it where ``asked`` is a floor."""
    return max(asked - done, 0.0) if floor else abs(done - asked)


def benefit(added: float, removed: float, quality: int, error: int,
            lowest_is_floor: bool = True) -> float:
    return (miss(0.0, 0.0, quality, error, lowest_is_floor)
            - miss(added, removed, quality, error, lowest_is_floor))


def option_change(option: str, added: float, removed: float) -> tuple[float, float]:
    """The shares an option keeps of the prior's full proposal."""
    return (added if option in ("both", "grow") else 0.0,
            removed if option in ("both", "shrink") else 0.0)


def volume_changes(initial: torch.Tensor, proposed: torch.Tensor) -> list[tuple[float, float]]:
    """(added, removed) share of each region's initial volume; ``initial`` (K, Z, Y, X)
    bool, ``proposed`` (Z, Y, X) index map (0 / k + 1)."""
    changes = []
    for k in range(len(initial)):
        mine = proposed == k + 1
        volume = max(int(initial[k].sum()), 1)
        changes.append((int((mine & ~initial[k]).sum()) / volume,
                        int((initial[k] & ~mine).sum()) / volume))
    return changes


@dataclass(frozen=True)
class RegionEvidence:
    """One rated region of a training scan and the prior's proposal for it."""

    structure: str
    added: float
    removed: float
    quality: int
    error: int
    bright: bool


def fit_gate(evidence: list[RegionEvidence], standard_errors: float = RATING_EVIDENCE_SE,
             min_regions: int = MIN_REGIONS, by_kind: bool = True,
             measure: Callable[[float, float, int, int], float] = benefit) -> dict[str, str]:
    """Structure → option for structures with ``min_regions`` rated regions, and an entry
    per kind (``KINDS``) for the others (module doc); ``by_kind=False`` pools both kinds,
    ``measure`` replaces ``benefit`` (the variants ``benchmarks/bench_gate.py`` compares)."""
    groups: dict[str, list[RegionEvidence]] = {}
    for item in evidence:
        groups.setdefault(item.structure, []).append(item)
    gate = {name: _best_option(items, standard_errors, measure)
            for name, items in sorted(groups.items()) if len(items) >= min_regions}
    for bright, key in KINDS.items():
        kind = [i for i in evidence if i.bright == bright or not by_kind]
        gate[key] = _best_option(kind, standard_errors, measure)
    return gate


def _best_option(items: list[RegionEvidence], standard_errors: float, measure) -> str:
    """The option with the highest mean benefit less ``standard_errors`` standard errors,
    if that is above 0: a structure whose ratings disagree is kept."""
    bounds = {option: lower_bound([measure(*option_change(option, i.added, i.removed),
                                           i.quality, i.error) for i in items],
                                  standard_errors) for option in OPTIONS}
    best = max(OPTIONS, key=lambda o: bounds[o])
    return best if bounds[best] > 0 else "keep"


def gate_directions(gate: dict[str, str], regions: list[str], bright: list[bool]
                    ) -> tuple[list[bool], list[bool]]:
    """(grow, shrink) allowed per region under ``gate``; ``bright`` per region
    (:func:`region_brightness`) picks the kind's entry for structures without their own."""
    options = [gate.get(r, gate.get(KINDS[b], "keep")) for r, b in zip(regions, bright)]
    return ([o in ("both", "grow") for o in options],
            [o in ("both", "shrink") for o in options])


def gated_errors(error: torch.Tensor, grow, shrink) -> torch.Tensor:
    """Error labels ``(K,)`` with the directions the gate forbids taken out: a region rated
    *both* whose structure may only grow counts as *under*, one the gate keeps as *none*
    (the SCORE loss then only holds it, eq. 1–2). ``grow``/``shrink``: per region, allowed."""
    grow, shrink = torch.as_tensor(grow), torch.as_tensor(shrink)
    wants_grow = ((error == UNDER) | (error == BOTH)) & grow.to(error.device)
    wants_shrink = ((error == OVER) | (error == BOTH)) & shrink.to(error.device)
    return torch.where(wants_grow & wants_shrink, BOTH,
                       torch.where(wants_grow, UNDER,
                                   torch.where(wants_shrink, OVER, torch.full_like(error, NONE))))


def moved_edges(image: torch.Tensor, initial: torch.Tensor, proposed: torch.Tensor,
                spacing_zyx) -> list[tuple[float, float]]:
    """Per region, mean |∇I| over the initial surface voxels a proposal gives up and over
    the proposal's new surface voxels (0 where there are none). ``image`` (1, Z, Y, X),
    ``initial`` (K, Z, Y, X) bool, ``proposed`` (Z, Y, X) index map (0 / k + 1). The
    surface is a mask's voxels with a face-neighbour outside it."""
    pixels = image[0].float().cpu().numpy()
    proposed = proposed.cpu().numpy()
    edges = []
    for k, mask in enumerate(initial.cpu().numpy().astype(bool)):
        mine = proposed == k + 1
        boxes = ndimage.find_objects((mask | mine).astype(np.uint8))
        if not boxes:
            edges.append((0.0, 0.0))
            continue
        box = tuple(slice(max(b.start - 1, 0), b.stop + 1) for b in boxes[0])
        gradient = np.sqrt(sum(g * g for g in np.gradient(pixels[box], *spacing_zyx)))
        before, after = _surface(mask[box]), _surface(mine[box])
        left, new = before & ~after, after & ~before
        edges.append((float(gradient[left].mean()) if left.any() else 0.0,
                      float(gradient[new].mean()) if new.any() else 0.0))
    return edges


def _surface(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask)


def region_brightness(image: torch.Tensor, masks: torch.Tensor, spacing_zyx, window
                      ) -> list[bool]:
    """Per region whether it is ``BRIGHT_HU`` brighter within ``RIM_MM`` inside its mask
    than outside. ``image`` (1, Z, Y, X) normalised by ``window`` (``normalise_ct``),
    ``masks`` (K, Z, Y, X) bool."""
    pixels = image[0].float().cpu().numpy()
    scale = float(window[1] - window[0])  # normalised units → HU
    bright = []
    margin = [int(np.ceil(RIM_MM / s)) + 1 for s in spacing_zyx]
    for whole in masks.cpu().numpy().astype(bool):
        boxes = ndimage.find_objects(whole.astype(np.uint8))
        if not boxes:
            bright.append(False)
            continue
        box = tuple(slice(max(b.start - m, 0), b.stop + m) for b, m in zip(boxes[0], margin))
        mask, around = whole[box], pixels[box]
        inside = ndimage.distance_transform_edt(mask, sampling=spacing_zyx) <= RIM_MM
        outside = ndimage.distance_transform_edt(~mask, sampling=spacing_zyx) <= RIM_MM
        rim_in, rim_out = around[mask & inside], around[~mask & outside]
        contrast = (float(np.median(rim_in)) - float(np.median(rim_out))) * scale \
            if rim_in.size and rim_out.size else 0.0
        bright.append(contrast > BRIGHT_HU)
    return bright
