"""The Post-DAE baselines."""

from __future__ import annotations

from dataclasses import replace

import torch
from support import SCORE_TINY as TINY

from scorekit.score.model import load_model
from scorekit.score.trainer import TrainOptions, train


def test_post_dae_without_scan_sees_the_masks_only(small_phantom_workspace, tmp_path):
    from scorekit.score.inputs import case_inputs
    from scorekit.score.refine import predict_probabilities

    out = tmp_path / "dae"
    train(small_phantom_workspace.path, out,
          TrainOptions(steps=3, lr=1e-3, method="post-dae", **TINY), device="cpu")
    network, config = load_model(out)
    assert config.mask_only
    case = small_phantom_workspace.cases()[0]
    inputs = case_inputs(case.image(), case.initial(), config, case.id)
    other_image = replace(inputs, image=torch.rand_like(inputs.image))
    assert torch.equal(predict_probabilities(network, inputs, config),
                       predict_probabilities(network, other_image, config))
