"""The learned gate: which of the prior's corrections a structure's ratings support."""

from __future__ import annotations

import pytest

from scorekit.data.ratings import BOTH, NONE, OVER, UNDER
from scorekit.score.gate import (
    FALLBACK,
    RegionEvidence,
    benefit,
    fit_gate,
    gate_directions,
    miss,
)


def test_a_change_that_adds_what_an_under_rating_asks_for_has_full_benefit():
    assert miss(0.05, 0.0, 3, UNDER) == pytest.approx(0.0)
    assert benefit(0.05, 0.0, 3, UNDER) == pytest.approx(0.05)
    assert benefit(0.0, 0.05, 3, UNDER) < 0  # removing from an under-segmented region
    assert benefit(0.0, 0.10, 2, OVER) == pytest.approx(0.10)
    assert benefit(0.01, 0.01, 4, BOTH) == pytest.approx(0.02)


def test_any_change_to_a_region_rated_perfect_is_a_loss():
    assert benefit(0.0, 0.0, 5, NONE) == 0.0
    assert benefit(0.03, 0.02, 5, NONE) == pytest.approx(-0.05)


def _evidence(structure, added, removed, ratings):
    return [RegionEvidence(structure, added, removed, q, l_) for q, l_ in ratings]


def test_the_gate_keeps_a_structure_whose_good_masks_the_prior_moves():
    cord = _evidence("spinal_cord", 0.15, 0.10, [(5, NONE)] * 4 + [(3, UNDER)] * 2)
    bone = _evidence("L4", 0.06, 0.02, [(3, UNDER), (2, UNDER), (3, UNDER)])
    gate = fit_gate(cord + bone)
    assert gate["spinal_cord"] == "keep"
    assert gate["L4"] == "grow"  # the removal its ratings never asked for is left out
    assert gate[FALLBACK] in ("keep", "grow")


def test_a_structure_whose_few_ratings_disagree_is_kept():
    mixed = _evidence("esophagus", 0.05, 0.0, [(3, UNDER), (5, NONE)])
    assert fit_gate(mixed)["esophagus"] == "keep"


def test_unseen_structures_take_the_fallback_and_directions_follow_options():
    gate = {"a": "grow", "b": "shrink", "c": "both", FALLBACK: "keep"}
    grow, shrink = gate_directions(gate, ["a", "b", "c", "unseen"])
    assert grow == [True, False, True, False]
    assert shrink == [False, True, True, False]
