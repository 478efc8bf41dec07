"""The learned gate: which of the prior's corrections a structure's ratings support."""

from __future__ import annotations

import pytest
import torch

from scorekit.data.ratings import BOTH, NONE, OVER, UNDER
from scorekit.score.gate import (
    KINDS,
    RegionEvidence,
    benefit,
    fit_gate,
    gate_directions,
    gated_errors,
    miss,
    moved_edges,
    region_brightness,
)


def test_a_change_that_adds_what_an_under_rating_asks_for_has_full_benefit():
    assert miss(0.05, 0.0, 3, UNDER) == pytest.approx(0.0)
    assert benefit(0.05, 0.0, 3, UNDER) == pytest.approx(0.05)
    assert benefit(0.0, 0.05, 3, UNDER) < 0  # removing from an under-segmented region
    assert benefit(0.0, 0.10, 2, OVER) == pytest.approx(0.10)
    assert benefit(0.01, 0.01, 4, BOTH) == pytest.approx(0.02)


def test_the_lowest_quality_asks_for_at_least_its_share():
    # quality 0: Dice below 0.80, so at least 30 % wrong; growing three times the volume
    # of a region rated 0 / under does all it asks, removing from it does not
    assert benefit(3.0, 0.0, 0, UNDER) == pytest.approx(benefit(0.30, 0.0, 0, UNDER))
    assert benefit(3.0, 0.0, 0, UNDER) == pytest.approx(0.30)
    assert benefit(0.10, 0.0, 0, UNDER) == pytest.approx(0.10)
    assert benefit(0.0, 0.50, 0, OVER) == pytest.approx(0.30)
    assert benefit(0.05, 0.50, 0, OVER) == pytest.approx(0.25)
    assert benefit(3.0, 0.0, 0, OVER) < 0
    assert benefit(0.50, 0.0, 1, UNDER) < benefit(0.16, 0.0, 1, UNDER)  # a band: exact
    assert benefit(0.50, 0.0, 0, BOTH) < benefit(0.15, 0.15, 0, BOTH)  # no one direction


def test_any_change_to_a_region_rated_perfect_is_a_loss():
    assert benefit(0.0, 0.0, 5, NONE) == 0.0
    assert benefit(0.03, 0.02, 5, NONE) == pytest.approx(-0.05)


def _evidence(structure, added, removed, ratings, bright=False):
    return [RegionEvidence(structure, added, removed, q, l_, bright) for q, l_ in ratings]


def test_the_gate_keeps_a_structure_whose_good_masks_the_prior_moves():
    cord = _evidence("spinal_cord", 0.15, 0.10, [(5, NONE)] * 4 + [(3, UNDER)] * 2)
    bone = _evidence("L4", 0.06, 0.02, [(3, UNDER), (2, UNDER), (3, UNDER), (2, UNDER)],
                     bright=True)
    gate = fit_gate(cord + bone)
    assert gate["spinal_cord"] == "keep"
    assert gate["L4"] == "grow"  # the removal its ratings never asked for is left out
    assert gate[KINDS[True]] == "grow" and gate[KINDS[False]] == "keep"


def test_another_measure_of_benefit_fits_another_gate():
    cord = _evidence("spinal_cord", 0.15, 0.10, [(5, NONE)] * 4 + [(3, UNDER)] * 2)
    gate = fit_gate(cord, measure=lambda added, removed, quality, error: added + removed)
    assert gate["spinal_cord"] == "both"  # a measure that rewards any change


def test_structures_with_few_or_disagreeing_ratings_follow_their_kind_or_are_kept():
    few = _evidence("C1", 0.06, 0.01, [(3, UNDER), (2, UNDER)], bright=True)
    mixed = _evidence("esophagus", 0.05, 0.0, [(3, UNDER), (5, NONE), (4, OVER)])
    gate = fit_gate(few + mixed)
    assert "C1" not in gate and gate[KINDS[True]] == "grow"
    assert gate["esophagus"] == "keep"
    grow, shrink = gate_directions(gate, ["C1", "esophagus", "unseen"], [True, False, True])
    assert grow == [True, False, True] and shrink == [False, False, False]


def test_directions_follow_each_option():
    gate = {"a": "grow", "b": "shrink", "c": "both", KINDS[True]: "keep",
            KINDS[False]: "keep"}
    grow, shrink = gate_directions(gate, ["a", "b", "c", "d"], [False] * 4)
    assert grow == [True, False, True, False]
    assert shrink == [False, True, True, False]


def test_the_loss_sees_only_the_directions_the_gate_allows():
    error = torch.tensor([BOTH, BOTH, UNDER, OVER, BOTH, NONE])
    grow = [True, False, False, True, True, True]
    shrink = [False, True, True, True, True, True]
    assert gated_errors(error, grow, shrink).tolist() == [UNDER, OVER, NONE, OVER, BOTH, NONE]


def test_bone_is_bright_and_a_gland_is_not():
    image = torch.full((1, 30, 30, 30), 0.0)  # normalised: 0 ≈ 500 HU in a 3000 HU window
    bone = torch.zeros(30, 30, 30, dtype=torch.bool)
    bone[8:22, 8:22, 8:22] = True
    image[0][bone] = 0.3  # 900 HU brighter than around it
    gland = torch.zeros_like(bone)
    gland[2:6, 2:6, 2:6] = True  # as bright as its surroundings
    assert region_brightness(image, torch.stack([bone, gland]), (1.0, 1.0, 1.0),
                             (-1000.0, 2000.0)) == [True, False]


def test_a_correction_onto_the_organs_edge_lands_on_a_stronger_edge_than_it_leaves():
    image = torch.zeros(1, 30, 30, 30)
    organ = torch.zeros(30, 30, 30, dtype=torch.bool)
    organ[8:22, 8:22, 8:22] = True
    image[0][organ] = 0.3
    short = torch.zeros_like(organ)
    short[10:20, 10:20, 10:20] = True  # its surface in flat tissue
    onto_edge = organ.long()  # index map: region 1 takes the organ
    before, after = moved_edges(image, short[None], onto_edge, (1.0, 1.0, 1.0))[0]
    assert after > before == 0.0
    too_far = torch.zeros_like(organ)
    too_far[5:25, 5:25, 5:25] = True  # off the edge into flat tissue again
    before, after = moved_edges(image, organ[None], too_far.long(), (1.0, 1.0, 1.0))[0]
    assert before > after == 0.0
    assert moved_edges(image, organ[None], organ.long(), (1.0, 1.0, 1.0)) == [(0.0, 0.0)]
