"""``scorekit refine --method``: the verdict's choice, a forced one, or no model at all."""

from __future__ import annotations

import json

import pytest

from scorekit.cli import main
from scorekit.data.labels import read_labelmap
from scorekit.score.choice import named_choice
from scorekit.score.model import ModelConfig, load_config
from scorekit.score.trainer import TrainOptions, train
from scorekit.score.verdict import decide, describe_use, name_best


@pytest.fixture(scope="module")
def case(small_phantom_workspace):
    return small_phantom_workspace.cases()[0]


def _refine(case, out, *extra) -> int:
    return main(["refine", "--image", str(case.image_path), "--seg", str(case.initial_path),
                 "--out", str(out), "--device", "cpu", *extra])


def test_prior_only_refines_without_a_model(case, tmp_path, capsys):
    assert _refine(case, tmp_path / "r.seg.nrrd", "--method", "prior-only") == 0
    assert "refined with prior-only (no model)" in capsys.readouterr().out
    refined = read_labelmap(tmp_path / "r.seg.nrrd")
    assert refined.names == case.initial().names
    assert (refined.array != case.initial().array).any()


def test_rating_guided_prior_reads_the_cases_ratings(case, small_phantom_workspace, tmp_path,
                                                     capsys):
    assert _refine(case, tmp_path / "r.seg.nrrd", "--method", "rating-guided-prior") == 2
    assert "needs --workspace and --case" in capsys.readouterr().err
    assert _refine(case, tmp_path / "r.seg.nrrd", "--method", "rating-guided-prior",
                   "--workspace", str(small_phantom_workspace.path), "--case", case.id) == 0
    assert _refine(case, tmp_path / "s.seg.nrrd", "--method", "rating-guided-prior",
                   "--workspace", str(small_phantom_workspace.path), "--case", "nobody") == 2
    assert "case 'nobody' has no ratings" in capsys.readouterr().err


def test_the_model_refines_as_its_verdict_names_and_says_why(case, small_phantom_workspace,
                                                             tmp_path, capsys):
    model = train(small_phantom_workspace.path, tmp_path / "m",
                  TrainOptions(steps=2, patch_size=[32] * 3, validate_every=1), device="cpu")
    verdict = load_config(model).training["verdict"]
    assert verdict["use"] in verdict["agreement"]
    assert load_config(model).gate is not None
    assert _refine(case, tmp_path / "r.seg.nrrd", "--model", str(model)) == 0
    assert f"refined with {verdict['use']} (agrees best" in capsys.readouterr().out
    assert _refine(case, tmp_path / "g.seg.nrrd", "--model", str(model), "--workspace",
                   str(small_phantom_workspace.path), "--case", case.id) == 0
    assert "refined with learned-gate+ratings (this scan is rated" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # argparse: not a method one can force
        _refine(case, tmp_path / "i.seg.nrrd", "--model", str(model), "--method", "initial")
    capsys.readouterr()
    assert _refine(case, tmp_path / "p.seg.nrrd", "--method", "model") == 2
    assert "needs --model" in capsys.readouterr().err


def test_only_a_clear_margin_of_rating_support_names_a_refinement():
    clear, noisy = [0.02, 0.025, 0.03, 0.02], [0.05, -0.04, 0.06, -0.05]
    initial = [0.0] * 4
    gains = {"initial": initial, "model": clear, "prior-only": [0.01] * 3 + [0.011]}
    assert name_best(gains, model_go=True)["use"] == "model"
    assert name_best(gains, model_go=False)["use"] == "prior-only"  # a no-go model never
    in_sample = name_best(gains, model_go=True, held_out=False)  # nor one fitted to them
    assert in_sample["use"] == "prior-only"
    assert "on which the network is not named" in describe_use(in_sample)
    assert name_best({"initial": initial, "model": noisy}, True)["use"] == "initial"
    assert decide([1.0], [0.9], [True], [0.0], False, clear)["go"]


def test_the_verdict_asks_most_rated_regions_to_change_as_rated():
    """The median benefit, not the mean: one region that gains much does not carry many
    that lose a little, nor does one that loses much sink many that gain."""
    one_big_win, one_big_loss = [0.3, -0.01, -0.02, -0.01], [-0.3, 0.01, 0.02, 0.01]
    no_support = decide([1.0], [0.9], [True], [0.0], False, one_big_win, "the training case")
    assert not no_support["go"] and "do not clearly support" in no_support["reasons"][0]
    assert "median benefit -0.0100 over 4 rated regions of the training case" in \
        no_support["reasons"][0]
    assert no_support["support"] == "4 rated regions of the training case"
    assert decide([1.0], [0.9], [True], [0.0], False, one_big_loss)["go"]
    assert not decide([1.0], [0.9], [True], [0.0], False, [0.0, 0.0, 0.05])["go"]  # most kept
    assert not decide([1.0], [0.9], [True], [0.0], False, [])["go"]
    two = decide([1.0], [0.9], [True], [0.0], False, [0.04, -0.01])  # a median of two: a mean
    assert not two["go"] and "mean benefit +0.0150 over 2 rated regions" in two["reasons"][0]
    assert "2 standard errors above 0" in two["reasons"][0]
    assert decide([1.0], [0.9], [True], [0.0], False, [0.02, 0.025])["go"]


def test_models_made_before_choices_refine_with_their_network():
    old = json.loads(ModelConfig(regions=["a"]).to_json())
    old.pop("gate")
    config = ModelConfig.from_json(json.dumps(old))
    assert config.gate is None and named_choice(config) == "model"
    assert named_choice(config, "prior-only") == "prior-only"
