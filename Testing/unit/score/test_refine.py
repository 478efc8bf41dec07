"""One-click refinement: labels from probabilities, band confinement, files in and out."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy import ndimage

from scorekit.cli import main
from scorekit.data.labelmap import LabelMap
from scorekit.data.labels import read_labelmap
from scorekit.errors import ScoreKitError
from scorekit.score.inputs import case_inputs
from scorekit.score.model import ModelConfig, build_network, load_model
from scorekit.score.morphology import band
from scorekit.score.refine import (
    _box_around,
    edge_checked,
    labels_from_probabilities,
    predict_probabilities,
    refine_case,
)


def test_overlapping_channels_go_to_the_most_probable_region():
    initial = torch.zeros((2, 8, 8, 8), dtype=torch.bool)
    probabilities = torch.zeros((2, 8, 8, 8))
    probabilities[0, 2:6, 2:6, 2:6] = 0.7
    probabilities[1, 4:8, 4:8, 4:8] = 0.9
    config = ModelConfig(regions=["a", "b"], confine_to_band=False)
    labels = labels_from_probabilities(probabilities, initial, config)
    assert labels[3, 3, 3] == 1 and labels[5, 5, 5] == 2 and labels[0, 0, 0] == 0



def test_confining_to_the_band_keeps_the_initial_mask_elsewhere():
    initial = torch.zeros((1, 20, 20, 20), dtype=torch.bool)
    initial[0, 5:15, 5:15, 5:15] = True
    probabilities = torch.zeros((1, 20, 20, 20))  # the network says "nothing" everywhere
    probabilities[0, 0:2, 0:2, 0:2] = 1.0  # and "region" far away
    labels = labels_from_probabilities(probabilities, initial, ModelConfig(regions=["a"]))
    assert labels[0, 0, 0] == 0  # far away: the initial mask (empty) wins
    assert labels[10, 10, 10] == 1  # deep inside: the initial mask wins
    assert labels[5, 10, 10] == 0  # in the band: the network decides



def test_with_the_prior_veto_a_change_against_the_prior_is_undone():
    initial = torch.zeros((2, 20, 20, 20), dtype=torch.bool)
    initial[0, 5:15, 5:15, 5:10] = True
    initial[1, 5:15, 5:15, 10:15] = True
    prior = torch.zeros((1, 20, 20, 20))
    prior[0, 5:15, 5:15, 3:15] = 1.0  # the image says region "a" reaches x = 3
    probabilities = initial.float().clone()
    probabilities[0, 5:15, 5:15, 3:5] = 0.9  # grow "a" where P agrees
    probabilities[0, 5:15, 15:17, 5:8] = 0.9  # grow "a" where P disagrees
    probabilities[0, 5:15, 5:15, 8:10] = 0.1  # shrink "a" where P disagrees
    probabilities[1, 5:15, 5:15, 13:15] = 0.1  # shrink "b" where P disagrees, too
    config = ModelConfig(regions=["a", "b"], eta=3, prior_veto=True)
    labels = labels_from_probabilities(probabilities, initial, config, prior)
    assert (labels[5:15, 5:15, 3:5] == 1).all()  # kept: P agrees
    assert (labels[5:15, 15:17, 5:8] == 0).all()  # undone
    assert (labels[5:15, 5:15, 8:10] == 1).all()  # undone
    assert (labels[5:15, 5:15, 13:15] == 2).all()  # undone
    without = labels_from_probabilities(probabilities, initial,
                                        ModelConfig(regions=["a", "b"], eta=3))
    assert (without[5:15, 15:17, 5:8] == 1).all()
    with pytest.raises(ValueError, match="needs the prior"):
        labels_from_probabilities(probabilities, initial, config)


def test_refine_writes_a_new_segmentation_with_the_same_names_and_grid(
        trained, small_phantom_workspace, tmp_path, capsys):
    case = small_phantom_workspace.cases()[0]
    code = main(["refine", "--image", str(case.image_path), "--seg", str(case.initial_path),
                 "--model", str(trained), "--out", str(tmp_path / "r.seg.nrrd"),
                 "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    refined = read_labelmap(tmp_path / "r.seg.nrrd")
    initial = case.initial()
    assert refined.regions == initial.regions
    assert refined.geometry.matches(initial.geometry)
    changed = refined.array != initial.array
    # Only voxels in the correction band may change (confine_to_band is the default).
    near = band(torch.from_numpy(initial.array > 0), 2).numpy()
    assert not (changed & ~near).any()



def test_refine_refuses_a_segmentation_with_none_of_the_models_regions(trained,
                                                                        small_phantom_workspace):
    case = small_phantom_workspace.cases()[0]
    initial = case.initial()
    other = LabelMap(initial.array, initial.geometry, regions={1: "femur_left", 2: "femur_right"})
    network, config = load_model(trained)
    with pytest.raises(ScoreKitError, match="none of the regions the model knows"):
        refine_case(case.image(), other, network, config, torch.device("cpu"))


def test_a_region_the_scan_lacks_stays_absent_and_the_others_are_refined(
        trained, small_phantom_workspace):
    from scorekit.score.inputs import missing_regions

    case = small_phantom_workspace.cases()[0]
    both = case.initial()
    left = both.value_of("humerus_left")
    one_arm = LabelMap(np.where(both.array == left, left, 0).astype(both.array.dtype),
                       both.geometry, regions={left: "humerus_left"})
    network, config = load_model(trained)
    assert missing_regions(one_arm, config) == ["humerus_right"]
    refined = refine_case(case.image(), one_arm, network, config, torch.device("cpu"))
    assert refined.names == ["humerus_left"]
    assert set(np.unique(refined.array)) <= {0, left}
    with_both = refine_case(case.image(), both, network, config, torch.device("cpu"))
    assert refined.mask("humerus_left").sum() > 0.9 * with_both.mask("humerus_left").sum()


def test_the_edge_check_keeps_a_change_onto_the_organs_edge_and_undoes_one_off_it():
    from types import SimpleNamespace

    organ = torch.zeros(30, 30, 30, dtype=torch.bool)
    organ[8:22, 8:22, 8:22] = True
    image = (organ.float() * 0.3)[None]
    short, other = torch.zeros_like(organ), torch.zeros_like(organ)
    short[10:20, 10:20, 10:20] = True  # region 1 stops short of the organ's edge
    other[0:4, 0:4, 0:4] = True  # region 2, elsewhere
    inputs = SimpleNamespace(image=image, initial=torch.stack([short, other]),
                             grid=SimpleNamespace(spacing_zyx=(1.0, 1.0, 1.0)))
    onto_edge = organ.long() + 2 * other.long()
    assert torch.equal(edge_checked(inputs, onto_edge), onto_edge)  # kept
    beyond = other.clone()
    beyond[0:6, 0:6, 0:6] = True  # region 2 grows into flat tissue
    moved = short.long() + 2 * beyond.long()
    checked = edge_checked(inputs, moved)
    assert torch.equal(checked, short.long() + 2 * other.long())  # undone


def test_a_region_free_network_refines_each_region_without_seeing_the_others(
        small_phantom_workspace):
    case = small_phantom_workspace.cases()[0]
    config = ModelConfig(regions=case.regions, patch_size=[32] * 3, features=[8, 16, 32],
                         region_free=True)
    torch.manual_seed(0)
    network = build_network(config).eval()
    assert network.unet.model[0].conv.in_channels == 3  # image, one mask, P: any K
    inputs = case_inputs(case.image(), case.initial(), config, case.id)
    both = predict_probabilities(network, inputs, config)
    alone = replace(inputs, initial=inputs.initial.clone())
    alone.initial[1] = False
    without_the_other = predict_probabilities(network, alone, config)
    assert both.shape == inputs.initial.shape
    assert torch.allclose(without_the_other[0], both[0])
    assert torch.equal(without_the_other[1], alone.initial[1].float())
    # beyond any box around region 0's band (a patch past it, in voxels along each axis)
    far = torch.from_numpy(ndimage.distance_transform_cdt(
        ~inputs.initial[0].numpy(), metric="chessboard") > config.eta + 32)
    assert far.any()
    assert torch.equal(both[0][far], inputs.initial[0][far].float())
    assert not torch.equal(both[0], inputs.initial[0].float())  # the network ran near it


def test_a_regions_box_holds_its_band_and_a_whole_patch_inside_the_volume():
    mask = torch.zeros((40, 30, 20), dtype=torch.bool)
    mask[1:3, 10:25, 18:20] = True
    box = _box_around(mask, [8, 8, 32])
    assert [(s.start, s.stop) for s in box] == [(0, 8), (10, 25), (0, 20)]
    assert mask[box].sum() == mask.sum()
