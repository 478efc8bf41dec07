"""SCORE learns from ratings alone: Dice rises over the initial masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scorekit.score.model import load_model
from scorekit.score.refine import refine_case
from scorekit.score.trainer import TrainOptions, train


@pytest.mark.slow
def test_training_from_ratings_alone_raises_dice_over_the_initial_masks(tmp_path):
    """The method end to end on CPU: phantoms, simulated ratings, 1800 steps, unseen cases."""
    from scorekit.metrics import dice
    from scorekit.synth import write_phantom_workspace

    training = write_phantom_workspace(tmp_path / "train", cases=6, seed=0)
    tests = write_phantom_workspace(tmp_path / "test", cases=2, seed=900)
    train(training.path, tmp_path / "m", TrainOptions(steps=1800, lr=1e-3, validate_every=300),
          device="cpu")
    network, config = load_model(tmp_path / "m")
    before, after = [], []
    for case in tests.cases():
        initial, reference = case.initial(), case.reference()
        refined = refine_case(case.image(), initial, network, config, torch.device("cpu"))
        for name in case.regions:
            before.append(dice(initial.mask(name), reference.mask(name)))
            after.append(dice(refined.mask(name), reference.mask(name)))
    assert np.mean(after) > np.mean(before) + 0.005, (before, after)
