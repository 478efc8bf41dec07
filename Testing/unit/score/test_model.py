"""Model files (safetensors + JSON, never a pickle) and the initial-mask skip."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from scorekit.errors import ScoreKitError
from scorekit.score.model import ModelConfig, build_network, load_model, save_model
from scorekit.score.refine import refine_case


def test_model_files_are_safetensors_and_json_and_round_trip(tmp_path):
    config = ModelConfig(regions=["humerus_left", "humerus_right"], features=[8, 16, 32])
    network = build_network(config)
    save_model(tmp_path / "m", network, config)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["model.json",
                                                                  "model.safetensors"]
    saved = json.loads((tmp_path / "m" / "model.json").read_text())
    assert saved["channels"] == ["image", "initial:humerus_left", "initial:humerus_right",
                                 "prior"]
    loaded, loaded_config = load_model(tmp_path / "m")
    assert loaded_config == config
    for (name, a), b in zip(network.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name



def test_the_weights_carry_their_config_so_a_stale_model_json_cannot_mislead(tmp_path):
    """A kill between the two files of a model leaves new weights beside an old
    model.json: the config inside the weights file is the one used."""
    config = ModelConfig(regions=["humerus_left", "humerus_right"], features=[8, 16, 32])
    save_model(tmp_path / "m", build_network(config), config)
    older = ModelConfig(regions=["femur_left"], features=[8, 16, 32])
    (tmp_path / "m" / "model.json").write_text(older.to_json())
    _, loaded = load_model(tmp_path / "m")
    assert loaded == config


def test_a_model_made_before_the_edge_check_refines_without_it(trained):
    """Such a model's config has no ``edge_check``; it reads as off, so its refinements
    stay what they were. SCORE's trainer sets it."""
    written = json.loads(ModelConfig(regions=["a"]).to_json())
    del written["edge_check"]
    assert ModelConfig.from_json(json.dumps(written)).edge_check is False
    assert load_model(trained)[1].edge_check is True


def test_a_pickled_or_foreign_model_is_refused(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    torch.save({"x": torch.zeros(1)}, folder / "model.safetensors")  # a pickle in disguise
    (folder / "model.json").write_text(ModelConfig(regions=["a"]).to_json())
    with pytest.raises(ScoreKitError, match=r"model\.safetensors"):
        load_model(folder)
    # Weights without a config inside (an older model): model.json decides, and a foreign
    # one is refused.
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(folder / "model.safetensors"))
    (folder / "model.json").write_text('{"format": "something-else"}')
    with pytest.raises(ScoreKitError, match="not a SCORE model config"):
        load_model(folder)



def test_an_untrained_network_reproduces_the_initial_masks(small_phantom_workspace):
    case = small_phantom_workspace.cases()[0]
    initial = case.initial()
    config = ModelConfig(regions=list(initial.names), features=[8, 16, 32],
                         confine_to_band=False)
    torch.manual_seed(0)
    refined = refine_case(case.image(), initial, build_network(config).eval(), config,
                          torch.device("cpu"))
    assert np.mean(refined.array == initial.array) > 0.995
    without_skip = replace(config, initial_logit=0.0)
    torch.manual_seed(0)
    unskipped = refine_case(case.image(), initial, build_network(without_skip).eval(),
                            without_skip, torch.device("cpu"))
    assert not np.array_equal(unskipped.array, initial.array)
