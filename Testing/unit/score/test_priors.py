"""Boundary priors: the local prior on a phantom against the paper's form; the edge prior
on real vertebrae and on a constructed shell."""

from __future__ import annotations

import numpy as np
import torch

from scorekit.score.morphology import band
from scorekit.score.priors.edge import edge_prior
from scorekit.score.priors.local import boundary_prior, local_prior, surroundings_level
from scorekit.score.priors.paper import paper_prior
from scorekit.synth.humerus import humerus_phantom


def test_boundary_prior_separates_bone_from_soft_tissue_on_a_phantom():
    phantom = humerus_phantom(seed=2)
    bone = phantom.reference.array > 0
    in_band = band(torch.from_numpy(bone), 2).numpy()
    lo = surroundings_level(phantom.image.array[in_band])
    assert 0 < lo < 120  # the level of muscle and fat, not of bone
    prior = boundary_prior(torch.from_numpy(phantom.image.array), lo).numpy()
    assert prior.min() >= 0 and prior.max() <= 1
    assert np.median(prior[in_band & bone]) > 0.5 > np.median(prior[in_band & ~bone])
    # Thresholding P at 0.5 in the band beats the paper's global form on blurred cortex.
    paper, _ = paper_prior(torch.from_numpy(phantom.image.array), torch.from_numpy(bone[None]),
                           2)
    paper = paper.numpy()
    def accuracy(p):
        return np.mean((p[in_band] > 0.5) == bone[in_band])

    assert accuracy(prior) > accuracy(paper)



def test_the_registered_local_prior_is_the_boundary_prior_at_the_bands_level():
    phantom = humerus_phantom(seed=2)
    bone = torch.from_numpy(phantom.reference.array > 0)
    in_band = band(bone, 2).numpy()
    image = torch.from_numpy(phantom.image.array)
    prior, lo = local_prior(image, bone[None], 2)
    assert lo == surroundings_level(phantom.image.array[in_band])
    assert torch.equal(prior, boundary_prior(image, lo))


def test_the_edge_prior_moves_a_shrunken_surface_to_the_bright_shells_outer_edge():
    # A bright shell (radius 8–10 mm, "cortex") around dim marrow: no intensity level
    # separates the marrow from the outside; the edge does. The initial mask is 2 mm small.
    z, y, x = np.mgrid[:24, :40, :40]
    radius = np.hypot(np.hypot(z - 12, y - 20), x - 20)
    image = np.where(radius <= 10, 80.0, 20.0)
    image[(radius > 8) & (radius <= 10)] = 900.0
    initial = torch.from_numpy(radius <= 8)[None]
    prior, _ = edge_prior(torch.from_numpy(image.astype(np.float32)), initial, 2, (1, 1, 1))
    inside = prior.numpy() > 0.5
    truth = radius <= 10
    assert np.mean(inside == truth) > 0.99
    assert inside[12, 20, 20]  # the dim marrow is inside


def test_the_edge_prior_beats_the_initial_masks_on_real_vertebrae(shared_data):
    from scorekit.data.verse import verse_pairs
    from scorekit.experiments.refinement import scan_case
    from scorekit.metrics import dice

    for pair in verse_pairs(shared_data / "ct" / "verse19"):
        _, image, initial, reference = scan_case(*pair, "model-like", seed=0)
        masks = torch.from_numpy(np.stack([initial.mask(n) for n in initial.names]))
        prior, _ = edge_prior(torch.from_numpy(image.array.astype(np.float32)), masks, 2,
                              image.geometry.spacing_zyx)
        before, after = [], []
        for k, name in enumerate(initial.names):
            mask, truth = initial.mask(name), reference.mask(name)
            others = (masks.sum(0) - masks[k].int() > 0).numpy()
            moved = np.where(band(masks[k], 2).numpy(), (prior.numpy() > 0.5) & ~others, mask)
            before.append(dice(mask, truth))
            after.append(dice(moved, truth))
        assert np.mean(after) > np.mean(before) + 0.01, pair[0]
