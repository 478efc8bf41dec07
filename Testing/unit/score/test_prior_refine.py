"""Refinement without learning: the prior in the band, where it may act."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy import ndimage

from scorekit.data.ratings import BOTH, NONE, OVER, UNDER, Rating
from scorekit.errors import ScoreKitError
from scorekit.metrics import dice
from scorekit.score.gate import KINDS
from scorekit.score.inputs import WORKING_VOXELS, case_inputs, default_spacing
from scorekit.score.prior_refine import (
    gated_prior,
    gated_rating_sets,
    prior_config,
    prior_only,
    rated_directions,
    rating_guided_prior,
    workspace_gate,
)


@pytest.fixture(scope="module")
def case(small_phantom_workspace):
    return small_phantom_workspace.cases()[0]


def test_prior_only_changes_voxels_only_near_the_initial_surfaces(case):
    image, initial = case.image(), case.initial()
    refined = prior_only(image, initial, case.id)
    config = prior_config(image, initial)
    reach_mm = (config.eta + 1) * config.spacing_mm + max(image.geometry.spacing_zyx)
    changed = refined.array != initial.array
    assert changed.any()
    inside, spacing = initial.array > 0, image.geometry.spacing_zyx
    to_surface_mm = np.where(inside, ndimage.distance_transform_edt(inside, sampling=spacing),
                             ndimage.distance_transform_edt(~inside, sampling=spacing))
    assert np.all(to_surface_mm[changed] <= reach_mm)


def test_prior_only_moves_phantom_masks_towards_the_reference(case):
    image, initial, reference = case.image(), case.initial(), case.reference()
    refined = prior_only(image, initial, case.id)
    before = np.mean([dice(initial.mask(n), reference.mask(n)) for n in reference.names])
    after = np.mean([dice(refined.mask(n), reference.mask(n)) for n in reference.names])
    assert after > before


def test_rating_guided_prior_leaves_regions_rated_perfect_and_only_grows_under(case):
    image, initial = case.image(), case.initial()
    first, second = initial.names
    ratings = [Rating(case.id, first, 5, NONE), Rating(case.id, second, 2, UNDER)]
    refined = rating_guided_prior(image, initial, ratings, case.id)
    assert np.array_equal(refined.mask(first), initial.mask(first))
    assert not (initial.mask(second) & ~refined.mask(second)).any()  # nothing removed
    # a rating above the threshold is left alone too
    ratings[1] = Rating(case.id, second, 4, UNDER)
    assert np.array_equal(rating_guided_prior(image, initial, ratings, case.id).array,
                          initial.array)


def test_rating_guided_prior_refuses_unrated_regions(case):
    with pytest.raises(ScoreKitError, match="no rating for region"):
        rated_directions([], ["humerus_left"], "case 'x'")


def test_a_gate_that_keeps_everything_returns_the_initial_masks(case):
    image, initial = case.image(), case.initial()
    kept = gated_prior(image, initial, {key: "keep" for key in KINDS.values()}, case.id)
    assert np.array_equal(kept.array, initial.array)


def test_gated_labels_keep_the_rated_directions_the_gate_allows_for_bone(case):
    image, initial = case.image(), case.initial()
    config = replace(prior_config(image, initial),
                     gate={KINDS[True]: "grow", KINDS[False]: "keep"})
    inputs = case_inputs(image, initial, config, case.id)
    regions = len(config.regions)
    quality = torch.full((regions,), 2)
    for rated, seen in ((BOTH, UNDER), (OVER, NONE), (UNDER, UNDER)):
        (q, l_), = gated_rating_sets(inputs, config, [(quality, torch.full((regions,), rated))])
        assert l_.tolist() == [seen] * regions and q is quality  # the humeri are bright


def test_a_gate_is_fitted_from_a_workspace_of_rated_cases(small_phantom_workspace):
    gate = workspace_gate(small_phantom_workspace)
    # two cases rate each humerus twice, too few for an entry of its own: the kinds decide
    assert set(gate) == set(KINDS.values())
    assert set(gate.values()) <= {"both", "grow", "shrink", "keep"}


def test_the_default_working_grid_fits_a_whole_torso_in_the_memory_budget():
    torso_mm = (343 * 1.6, 512 * 0.7, 512 * 0.7)
    spacing = default_spacing(0.7, torso_mm)
    assert np.prod([e / spacing for e in torso_mm]) <= WORKING_VOXELS
    assert spacing <= 1.5  # TotalSegmentator's grid
    assert default_spacing(1.0, (100.0, 80.0, 80.0)) == 1.0  # small crops keep the finest
    assert default_spacing(1.02, (100.0, 80.0, 80.0)) == 1.0  # rounded to 0.05 mm


def test_the_gate_with_ratings_corrects_only_what_both_call_for(case):
    image, initial = case.image(), case.initial()
    first, second = initial.names
    both = {first: "both", second: "both", **{key: "keep" for key in KINDS.values()}}
    ratings = [Rating(case.id, first, 5, NONE), Rating(case.id, second, 2, UNDER)]
    refined = gated_prior(image, initial, both, case.id, ratings)
    assert np.array_equal(refined.mask(first), initial.mask(first))  # rated perfect
    assert not (initial.mask(second) & ~refined.mask(second)).any()  # rated under: grows
    shrink_only = dict(both, **{second: "shrink"})
    assert np.array_equal(gated_prior(image, initial, shrink_only, case.id, ratings).array,
                          initial.array)  # the gate forbids the growth the rating asks for
    unusable = [ratings[0], Rating(case.id, second, 0, UNDER)]
    assert np.array_equal(gated_prior(image, initial, shrink_only, case.id, unusable).array,
                          initial.array)  # the structure's own entry still decides
    by_kind = {first: "both", **{key: "shrink" for key in KINDS.values()}}
    grown = gated_prior(image, initial, by_kind, case.id, unusable).mask(second)
    assert grown.sum() > initial.mask(second).sum()  # rated unusable: the rating decides
    assert not (initial.mask(second) & ~grown).any()


def test_a_rated_size_caps_the_priors_change_to_the_share_the_rating_implies(case):
    from scorekit.score.gate import WRONG_SHARE_BY_QUALITY, volume_changes
    from scorekit.score.prior_refine import (
        corrected_index,
        every_direction,
        rated_shares,
        sized_index,
    )

    image, initial = case.image(), case.initial()
    config = prior_config(image, initial)
    inputs = case_inputs(image, initial, config, case.id)
    first, second = config.regions
    ratings = [Rating(case.id, first, 5, NONE), Rating(case.id, second, 3, BOTH)]
    grow, shrink = rated_shares(ratings, config.regions, case.id)
    half = WRONG_SHARE_BY_QUALITY[3] / 2
    assert grow.tolist() == pytest.approx([0, half]) and shrink.tolist() == pytest.approx(
        [0, half])
    sized = volume_changes(inputs.initial, sized_index(inputs, grow, shrink, config.eta))
    free = volume_changes(inputs.initial, corrected_index(
        inputs, every_direction(2), config.eta))
    assert sized[0] == (0.0, 0.0)  # rated perfect: kept
    added, removed = sized[1]
    assert 0 < added <= half + 1e-3 and 0 < removed <= half + 1e-3
    assert added <= free[1][0] and removed <= free[1][1]  # within what the prior proposes
    assert torch.equal(sized_index(inputs, grow * 0, shrink * 0, config.eta) > 0,
                       inputs.initial.any(0))
