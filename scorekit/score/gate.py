"""The learned gate: per structure, which corrections of the prior P its ratings support.

The edge prior knows how to move a boundary, not whether it should: on vertebrae it moves
poor masks to the bone's edge, on the spinal cord or a parotid gland (no bright rim) it
moves good masks away from theirs. The ratings say which: over the training scans'
regions of structure s, each option o (``both`` directions, ``grow`` only, ``shrink``
only, ``keep``) is scored by how well the change it makes agrees with the region's rating,
and s gets the option that agrees best on average. A structure no training scan shows
takes the option that agrees best over all regions. Fitting needs no network; SCORE's
trainer fits it beside the network, and its refinement keeps only the changes the gate
lets through. An option is taken only where its mean benefit exceeds 0 by one standard
error over the structure's regions.

**Agreement with a rating** (our measure; the SCORE paper has none). A rating (q, l)
implies a wrong volume share e(q) (``WRONG_SHARE_BY_QUALITY``: the simulated rater's Dice
bands read as 1 − Dice) to be added (l = under), removed (over), or half of each (both).
A change that adds a share A and removes R of the initial volume misses the rating by

    under: |A − e| + R     over: |R − e| + A     both: |A − e/2| + |R − e/2|     none: A + R

and the initial masks (A = R = 0) miss it by e. ``benefit`` = miss(initial) − miss(change):
positive where the change does what the rating asked, by about as much.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from scorekit.data.ratings import BOTH, OVER, UNDER

OPTIONS = ("both", "grow", "shrink", "keep")
# A rating's quality → the share of the region's volume it says is wrong.
WRONG_SHARE_BY_QUALITY = {5: 0.0, 4: 0.02, 3: 0.05, 2: 0.10, 1: 0.16, 0: 0.30}
FALLBACK = "*"  # the gate's entry for structures no training scan shows


def miss(added: float, removed: float, quality: int, error: int) -> float:
    """How far a change (shares of the initial volume) is from what the rating asks."""
    e = WRONG_SHARE_BY_QUALITY[int(quality)]
    if error == UNDER:
        return abs(added - e) + removed
    if error == OVER:
        return abs(removed - e) + added
    if error == BOTH:
        return abs(added - e / 2) + abs(removed - e / 2)
    return added + removed


def benefit(added: float, removed: float, quality: int, error: int) -> float:
    return miss(0.0, 0.0, quality, error) - miss(added, removed, quality, error)


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


def fit_gate(evidence: list[RegionEvidence]) -> dict[str, str]:
    """Structure → option with the highest mean benefit (``keep`` unless one is above 0),
    and ``FALLBACK`` → the best option over every region."""
    by_structure: dict[str, list[RegionEvidence]] = {}
    for item in evidence:
        by_structure.setdefault(item.structure, []).append(item)
    gate = {name: _best_option(items) for name, items in sorted(by_structure.items())}
    gate[FALLBACK] = _best_option(evidence) if evidence else "keep"
    return gate


def _best_option(items: list[RegionEvidence]) -> str:
    """The option with the highest mean benefit, where that mean stays above 0 by one
    standard error: a structure rated on few scans is kept unless they agree."""
    bounds = {}
    for option in OPTIONS:
        gains = [benefit(*option_change(option, i.added, i.removed), i.quality, i.error)
                 for i in items]
        spread = float(np.std(gains, ddof=1)) / np.sqrt(len(gains)) if len(gains) > 1 else 0.0
        bounds[option] = float(np.mean(gains)) - spread
    best = max(OPTIONS, key=lambda o: bounds[o])
    return best if bounds[best] > 0 else "keep"


def gate_directions(gate: dict[str, str], regions: list[str]) -> tuple[list[bool], list[bool]]:
    """(grow, shrink) allowed per region under ``gate``."""
    options = [gate.get(r, gate.get(FALLBACK, "keep")) for r in regions]
    return ([o in ("both", "grow") for o in options],
            [o in ("both", "shrink") for o in options])
