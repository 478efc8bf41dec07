"""Training from ratings, model files, checkpoints, kill-and-resume, one-click refinement."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from scorekit.cli import main
from scorekit.data.labelmap import LabelMap
from scorekit.data.labels import read_labelmap
from scorekit.errors import ScoreKitError
from scorekit.score.model import ModelConfig, build_network, load_model, save_model
from scorekit.score.refine import labels_from_probabilities, refine_case
from scorekit.score.trainer import TrainOptions, train

TINY = dict(patch_size=[32, 32, 32], features=[8, 16, 32], validate_every=5,
            checkpoint_every=5)


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


def test_a_pickled_or_foreign_model_is_refused(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    torch.save({"x": torch.zeros(1)}, folder / "model.safetensors")  # a pickle in disguise
    (folder / "model.json").write_text(ModelConfig(regions=["a"]).to_json())
    with pytest.raises(ScoreKitError, match=r"model\.safetensors"):
        load_model(folder)
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
    assert np.mean(refined.array == initial.array) > 0.999
    without_skip = replace(config, initial_logit=0.0)
    torch.manual_seed(0)
    unskipped = refine_case(case.image(), initial, build_network(without_skip).eval(),
                            without_skip, torch.device("cpu"))
    assert not np.array_equal(unskipped.array, initial.array)


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


@pytest.fixture(scope="module")
def trained(small_phantom_workspace, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "m"
    train(small_phantom_workspace.path, out, TrainOptions(steps=10, lr=1e-3, **TINY),
          device="cpu")
    return out


def test_training_writes_a_model_history_and_checkpoint(trained):
    names = {p.name for p in trained.iterdir()}
    assert {"model.json", "model.safetensors", "history.json",
            "checkpoint_latest.json", "checkpoint_latest.safetensors"} <= names
    history = json.loads((trained / "history.json").read_text())["history"]
    assert len(history) == 10 and all(np.isfinite(h["loss"]) for h in history)
    config = json.loads((trained / "model.json").read_text())
    assert config["training"]["steps"] == 10 and config["regions"] == ["humerus_left",
                                                                       "humerus_right"]


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
    from scorekit.score.morphology import band

    near = band(torch.from_numpy(initial.array > 0), 2).numpy()
    assert not (changed & ~near).any()


def test_refine_refuses_a_segmentation_without_the_models_regions(trained,
                                                                   small_phantom_workspace):
    case = small_phantom_workspace.cases()[0]
    initial = case.initial()
    other = LabelMap(initial.array, initial.geometry, regions={1: "femur_left", 2: "femur_right"})
    network, config = load_model(trained)
    with pytest.raises(ScoreKitError, match="lacks region"):
        refine_case(case.image(), other, network, config, torch.device("cpu"))


def test_training_without_resume_over_a_checkpoint_is_refused(trained, small_phantom_workspace):
    with pytest.raises(ScoreKitError, match="holds a checkpoint; resume it"):
        train(small_phantom_workspace.path, trained, TrainOptions(steps=20, **TINY), "cpu")


def test_a_killed_training_resumes_from_its_last_checkpoint(small_phantom_workspace,
                                                            tmp_path):
    out = tmp_path / "m"
    command = [sys.executable, "-m", "scorekit", "train", "--workspace",
               str(small_phantom_workspace.path), "--out", str(out), "--steps", "400",
               "--patch-size", "32", "--device", "cpu", "--json-progress"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = out / "checkpoint_latest.json"
    deadline = time.monotonic() + 240
    while not checkpoint.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert checkpoint.exists(), "no checkpoint was written before the deadline"
    killed_at = json.loads(checkpoint.read_text())["step"]
    assert 0 < killed_at < 400

    again = [("60" if arg == "400" else arg) for arg in command]
    result = subprocess.run([*again, "--resume"], capture_output=True, text=True, timeout=600)
    if killed_at >= 60:  # the run had already passed 60 steps: nothing left to do
        assert result.returncode == 0
    else:
        assert result.returncode == 0, result.stderr
        events = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
        logs = [e["message"] for e in events if e["event"] == "log"]
        assert any(f"resumed from step {killed_at}" in m for m in logs)
        steps = [e["done"] for e in events if e["event"] == "progress"]
        assert steps[0] == 0 and killed_at in steps and steps[-1] == 60
    assert json.loads(checkpoint.read_text())["step"] >= 60
    assert (out / "model.safetensors").exists()


def test_background_region_model_predicts_one_more_channel_and_refines(
        small_phantom_workspace, tmp_path):
    out = tmp_path / "bg"
    train(small_phantom_workspace.path, out,
          TrainOptions(steps=4, lr=1e-3, background_region=True, **TINY), device="cpu")
    network, config = load_model(out)
    assert config.outputs == ["background", "humerus_left", "humerus_right"]
    case = small_phantom_workspace.cases()[0]
    refined = refine_case(case.image(), case.initial(), network, config, torch.device("cpu"))
    assert refined.names == case.initial().names


def test_the_skip_and_confinement_choices_reach_the_saved_model(small_phantom_workspace,
                                                               tmp_path):
    out = tmp_path / "plain"
    train(small_phantom_workspace.path, out, TrainOptions(
        steps=2, lr=1e-3, initial_logit=0.0, confine_to_band=False, **TINY), device="cpu")
    network, config = load_model(out)
    assert config.initial_logit == 0.0 and not config.confine_to_band
    assert network.gain == 0.0


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


def test_validation_takes_every_raters_ratings(tmp_path):
    from scorekit.data.ratings import BOTH, OVER, Rating
    from scorekit.score.method import ScoreTrainer
    from scorekit.score.trainer import _ProcessGroup
    from scorekit.synth import write_phantom_workspace

    ws = write_phantom_workspace(tmp_path / "ws", cases=1, seed=3, size_xy=96, slices=120,
                                 spacing=(2.0, 2.0, 2.7))
    case = ws.cases()[0]
    ws.ratings.put([Rating(case.id, region, 1, OVER if k else BOTH, rater="second")
                    for k, region in enumerate(case.regions)])
    config = ModelConfig(regions=case.regions, patch_size=[32] * 3, features=[8, 16, 32])
    torch.manual_seed(0)
    run = ScoreTrainer(config, TrainOptions(**TINY), torch.device("cpu"), tmp_path / "m",
                       _ProcessGroup())
    loaded = run.load_case(ws, case)
    assert len(loaded.rating_sets) == 2
    each = [run.validate([replace(loaded, rating_sets=[s])])["val_loss"]
            for s in loaded.rating_sets]
    assert each[0] != pytest.approx(each[1])
    assert run.validate([loaded])["val_loss"] == pytest.approx(np.mean(each))


def test_background_mirrors_the_regions_ratings():
    from scorekit.data.ratings import BOTH, NONE, OVER, UNDER
    from scorekit.score.loss import add_background_region

    initial = torch.zeros((1, 2, 4, 4, 4), dtype=torch.bool)
    initial[0, 0, 1:3, 1:3, 1:3] = True
    for errors, qualities, expected in (([UNDER, NONE], [3, 5], (OVER, 3)),
                                        ([UNDER, OVER], [3, 2], (BOTH, 2)),
                                        ([OVER, NONE], [1, 5], (UNDER, 1)),
                                        ([NONE, NONE], [5, 5], (NONE, 5))):
        masks, q, l_ = add_background_region(initial, torch.tensor([qualities]),
                                             torch.tensor([errors]))
        assert (int(l_[0, 0]), int(q[0, 0])) == expected
        assert torch.equal(masks[0, 0], ~initial[0].any(0))


def test_two_process_training_with_torchrun_on_cpu(small_phantom_workspace, tmp_path):
    out = tmp_path / "ddp"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "scorekit", "train", "--workspace", str(small_phantom_workspace.path),
         "--out", str(out), "--steps", "6", "--patch-size", "32", "--device", "cpu"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((out / "history.json").read_text())["summary"]
    assert summary["processes"] == 2 and summary["steps"] == 6
    load_model(out)


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
