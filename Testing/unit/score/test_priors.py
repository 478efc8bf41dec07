"""Boundary priors: the local prior on a phantom, against the paper's form."""

from __future__ import annotations

import numpy as np
import torch

from scorekit.score.morphology import band
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
    paper, _ = paper_prior(torch.from_numpy(phantom.image.array), in_band)
    paper = paper.numpy()
    def accuracy(p):
        return np.mean((p[in_band] > 0.5) == bone[in_band])

    assert accuracy(prior) > accuracy(paper)



def test_the_registered_local_prior_is_the_boundary_prior_at_the_bands_level():
    phantom = humerus_phantom(seed=2)
    in_band = band(torch.from_numpy(phantom.reference.array > 0), 2).numpy()
    image = torch.from_numpy(phantom.image.array)
    prior, lo = local_prior(image, in_band)
    assert lo == surroundings_level(phantom.image.array[in_band])
    assert torch.equal(prior, boundary_prior(image, lo))
