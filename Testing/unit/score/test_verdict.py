"""Go / no-go from ratings alone."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from scorekit import registry
from scorekit.cli import main
from scorekit.data.ratings import NONE, OVER, UNDER
from scorekit.score.model import load_config
from scorekit.score.trainer import TrainOptions, train
from scorekit.score.verdict import decide, direction_checks, read_verdict, supported


def _cube(size: int) -> torch.Tensor:
    mask = torch.zeros(12, 12, 12, dtype=torch.bool)
    mask[2:2 + size, 2:2 + size, 2:2 + size] = True
    return mask


def test_regions_moving_against_their_rating_are_counted():
    initial = torch.stack([_cube(6), _cube(6), _cube(6), _cube(6)])
    refined = torch.stack([_cube(5), _cube(7), _cube(7), _cube(6)])
    quality = torch.tensor([2, 2, 2, 5])
    error = torch.tensor([UNDER, UNDER, OVER, NONE])
    right, stable = direction_checks(initial, refined, quality, error)
    assert right == [False, True, False] and stable == [0.0]


def test_the_verdict_needs_loss_direction_and_stability():
    assert decide([1.0], [0.9], [True, True], [0.0], in_sample=False)["go"]
    assert not decide([1.0], [1.1], [True], [0.0], False)["go"]  # loss rises
    wrong = decide([1.0], [0.9], [False, False, True], [0.0], False)
    assert not wrong["go"] and "moved against" in wrong["reasons"][0]
    assert not decide([1.0], [0.9], [True], [0.1], False)["go"]  # perfect regions moved
    assert decide([1.0], [0.9], [], [], True)["cases"].startswith("training")


def test_support_reads_lists_and_arrays_alike():
    for gains in ([0.02, -0.01, 0.03], np.array([0.02, -0.01, 0.03])):
        assert supported(gains)  # median 0.02
    for gains in ([], np.array([]), [0.05], [0.02, np.nan, 0.03]):
        assert not supported(gains)


def inside_nowhere(image, masks, eta, spacing_zyx=None):
    """A wrong prior: no voxel is 'inside'."""
    return torch.zeros_like(image, dtype=torch.float32), 0.0


@pytest.mark.slow
def test_a_model_trained_with_a_wrong_prior_is_no_go_and_strict_refuses_it(
        small_phantom_workspace, tmp_path, monkeypatch, capsys):
    """Half the regions rated under-segmented, half over, and a prior that calls nothing
    inside: the network, which does not see ratings, learns to shrink every region, also
    those the raters said were too small."""
    from scorekit.data.ratings import Rating

    ws_path = tmp_path / "ws"
    import shutil

    shutil.copytree(small_phantom_workspace.path, ws_path)
    from scorekit.data.workspace import Workspace

    ws = Workspace(ws_path)
    ws.ratings.put([Rating(c.id, r, 2, (UNDER, OVER)[(i + j) % 2], rater="simulated")
                    for i, c in enumerate(ws.cases())
                    for j, r in enumerate(c.initial().names)])
    monkeypatch.setitem(registry.PRIORS, "nowhere", f"{__name__}:inside_nowhere")
    options = TrainOptions(steps=150, lr=3e-3, patch_size=[32, 32, 32], features=[8, 16, 32],
                           prior="nowhere", validate_every=30)
    model = train(ws_path, tmp_path / "model", options, device="cpu")
    verdict = load_config(model).training["verdict"]
    assert verdict["go"] is False, str(verdict)
    saved = json.loads((model / "model.json").read_text())
    assert saved["training"]["verdict"] == verdict
    case = ws.cases()[0]
    out = tmp_path / "refined.nii.gz"
    args = ["refine", "--image", str(case.image_path), "--seg", str(case.initial_path),
            "--model", str(model), "--out", str(out), "--device", "cpu"]
    assert main([*args, "--strict"]) == 2 and not out.exists()
    assert "no-go" in capsys.readouterr().err
    assert main(args) == 0 and out.exists()
    assert "warning" in capsys.readouterr().err
    assert np.isfinite(verdict["loss_refined"])
    assert read_verdict(model) == verdict and read_verdict(tmp_path) is None


def test_a_model_json_left_behind_by_a_kill_does_not_decide_the_verdict(trained, tmp_path):
    """A kill after the weights (config inside) were written and before model.json was:
    the weights say no-go, the copy still says go. The verdict comes from the weights."""
    import shutil

    from scorekit.score.model import CONFIG_KEY, load_model
    from scorekit.weights import save_weights

    model = shutil.copytree(trained, tmp_path / "m")
    network, config = load_model(model)
    config.training["verdict"] = {"go": True, "reasons": [], "cases": "held-out rated cases"}
    (model / "model.json").write_text(config.to_json())  # what the earlier save left
    config.training["verdict"] = {"go": False, "reasons": ["loss rises"],
                                  "cases": "held-out rated cases"}
    save_weights(network, model / "model.safetensors", {CONFIG_KEY: config.to_json()})
    assert json.loads((model / "model.json").read_text())["training"]["verdict"]["go"]
    assert read_verdict(model)["go"] is False
    assert load_config(model).training["verdict"]["go"] is False
