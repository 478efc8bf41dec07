"""``scorekit refine --method``: the verdict's choice, a forced one, or no model at all."""

from __future__ import annotations

import json

import pytest

from scorekit.cli import main
from scorekit.data.labels import read_labelmap
from scorekit.score.choice import named_choice
from scorekit.score.model import ModelConfig, load_config
from scorekit.score.trainer import TrainOptions, train
from scorekit.score.verdict import name_best


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


def test_a_no_go_model_is_never_named_and_ties_keep_the_initial_masks():
    assert name_best({"initial": 0.0, "model": 0.02, "prior-only": 0.01}, False)["use"] == \
        "prior-only"
    assert name_best({"initial": 0.0, "model": 0.0, "prior-only": -0.01}, True)["use"] == \
        "initial"
    assert name_best({"initial": 0.0, "model": 0.02, "prior-only": 0.01}, True)["use"] == "model"


def test_models_made_before_choices_refine_with_their_network():
    old = json.loads(ModelConfig(regions=["a"]).to_json())
    old.pop("gate")
    config = ModelConfig.from_json(json.dumps(old))
    assert config.gate is None and named_choice(config) == "model"
    assert named_choice(config, "prior-only") == "prior-only"
