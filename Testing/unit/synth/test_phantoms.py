"""Synthetic humerus CT phantoms, simulated model errors and simulated raters."""

from __future__ import annotations

import numpy as np
import pytest

from scorekit.data.ratings import BOTH, NONE, OVER, UNDER
from scorekit.synth.errors import signed_distance_mm, simulate_initial
from scorekit.synth.humerus import humerus_phantom
from scorekit.synth.rater import simulated_rating


@pytest.fixture(scope="module")
def phantom():
    return humerus_phantom(seed=3)


def dice(a, b):
    return 2 * np.count_nonzero(a & b) / (a.sum() + b.sum())


def test_default_phantom_is_an_anisotropic_128x128x160_ct(phantom):
    assert phantom.image.array.shape == (160, 128, 128)
    assert phantom.image.array.dtype == np.int16
    spacing = phantom.image.geometry.spacing
    assert spacing[2] > spacing[0]


def test_intensities_are_those_of_ct_tissues(phantom):
    hu = phantom.image.array
    bone = phantom.reference.array > 0
    assert np.median(hu[0:5, 0:5, 0:5]) < -900  # air in the corner
    shell = bone & (signed_distance_mm(bone, phantom.image.geometry.spacing_zyx) > -1.6)
    mid_shaft = phantom.epiphysis < 0.05
    cortical = hu[shell & mid_shaft & (hu > 700)]
    assert 1000 < np.percentile(cortical, 90) < 1800
    epiphyses = bone & (phantom.epiphysis > 0.95) & ~shell
    assert 100 < np.median(hu[epiphyses]) < 400  # trabecular bone
    soft = (phantom.reference.array == 0) & (hu > -200) & (hu < 150)
    assert np.count_nonzero(soft) > 0.1 * hu.size  # fat and muscle around the bones


def test_humerus_left_lies_on_the_patients_left_which_is_plus_x_in_lps(phantom):
    labels = phantom.reference
    x_left = np.nonzero(labels.mask("humerus_left"))[2].mean()
    x_right = np.nonzero(labels.mask("humerus_right"))[2].mean()
    assert x_left > x_right


def z_bone(p):
    """Slice indices that hold bone."""
    return np.nonzero(p.reference.array.any(axis=(1, 2)))[0]


def test_fields_of_view_cover_the_expected_ends():
    proximal = humerus_phantom(seed=1, fov="proximal")
    distal = humerus_phantom(seed=1, fov="distal")
    full = humerus_phantom(seed=1, fov="full")
    assert proximal.image.array.shape[0] == distal.image.array.shape[0] == 80
    # Proximal shows the top of the bone (bone ends below the top slice), distal the bottom.
    assert z_bone(proximal).max() < 79 and z_bone(proximal).min() == 0
    assert z_bone(distal).min() > 0 and z_bone(distal).max() == 79
    assert z_bone(full).min() > 0 and z_bone(full).max() < 159


def test_same_seed_same_case_other_seed_other_case():
    a, b, c = humerus_phantom(seed=5), humerus_phantom(seed=5), humerus_phantom(seed=6)
    assert np.array_equal(a.image.array, b.image.array)
    assert not np.array_equal(a.image.array, c.image.array)


def test_initial_segmentations_look_like_a_foundation_models():
    dices, changes_at_ends = [], []
    for seed in range(8):
        p = humerus_phantom(seed=seed, fov="full")
        initial, modes = simulate_initial(p.reference, np.random.default_rng(seed),
                                          focus=p.epiphysis)
        for value, name in p.reference.regions.items():
            ref, ini = p.reference.array == value, initial.array == value
            if modes[name] == "none":
                assert np.array_equal(ref, ini)
                continue
            dices.append(dice(ref, ini))
            changed = ref ^ ini
            changes_at_ends.append(p.epiphysis[changed].mean())
            if modes[name] == "under":
                assert not np.any(ini & ~ref)
            if modes[name] == "over":
                assert not np.any(ref & ~ini)
    assert 0.90 <= np.mean(dices) <= 0.97
    assert min(dices) > 0.8
    assert np.mean(changes_at_ends) > 0.6  # errors concentrate at the epiphyses


def test_simulated_rater_follows_the_documented_mapping():
    ref = np.zeros((10, 10, 10), bool)
    ref[2:8, 2:8, 2:8] = True
    assert simulated_rating("c", "r", ref, ref).quality == 5
    assert simulated_rating("c", "r", ref, ref).error == NONE
    under = ref.copy()
    under[2] = False  # 1/6 of the volume missed
    rating = simulated_rating("c", "r", ref, under)
    assert rating.error == UNDER and rating.quality == 2  # Dice 0.909
    over = ref.copy()
    over[8, 2:8, 2:8] = True
    assert simulated_rating("c", "r", ref, over).error == OVER
    both = under.copy()
    both[8, 2:8, 2:8] = True
    assert simulated_rating("c", "r", ref, both).error == BOTH
    assert simulated_rating("c", "r", ref, both).problem() is None


def test_error_scale_moves_the_initial_surfaces_further(tmp_path):
    from scorekit.errors import ScoreKitError
    from scorekit.synth import write_phantom_workspace

    small = dict(cases=1, seed=2, size_xy=64, slices=80, spacing=(3.0, 3.0, 4.0))
    dices = []
    for scale in (1.0, 2.0):
        case = write_phantom_workspace(tmp_path / f"s{scale}", error_scale=scale,
                                       **small).cases()[0]
        initial, reference = case.initial(), case.reference()
        dices.append(np.mean([dice(initial.mask(n), reference.mask(n))
                              for n in case.regions]))
    assert dices[1] < dices[0] - 0.02
    with pytest.raises(ScoreKitError, match="error-scale must be positive"):
        write_phantom_workspace(tmp_path / "bad", error_scale=0, **small)


def test_model_like_errors_stay_near_the_surface_and_regions_never_overlap(shared_data):
    from scorekit.data.labels import read_labelmap
    from scorekit.experiments.refinement import VERSE_NAMES
    from scorekit.metrics import dice
    from scorekit.synth.errors import (
        MODEL_AMPLITUDE_MM,
        MODEL_RESOLUTION_MM,
        model_like_initial,
        signed_distance_mm,
    )

    reference = read_labelmap(shared_data / "ct" / "verse19" / "sub-verse005_seg-vert_msk.nii.gz",
                              names=VERSE_NAMES)
    spacing = reference.geometry.spacing_zyx
    reach = MODEL_RESOLUTION_MM / 2 + MODEL_AMPLITUDE_MM[1]
    dices = []
    for seed in range(3):
        initial, modes = model_like_initial(reference, np.random.default_rng(seed))
        assert set(modes) == set(reference.names) and initial.regions == reference.regions
        for value in reference.regions:
            truth, found = reference.array == value, initial.array == value
            distance = np.abs(signed_distance_mm(truth, spacing))
            assert distance[truth ^ found].max() <= reach + max(spacing)
            dices.append(dice(found, truth))
    assert 0.88 < np.mean(dices) < 0.97  # where a foundation model's vertebra Dice lies
