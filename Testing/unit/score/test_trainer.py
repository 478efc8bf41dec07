"""The training loop: files, checkpoints, kill and resume, raters, several processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from support import SCORE_TINY as TINY

from scorekit.errors import ScoreKitError
from scorekit.score.model import ModelConfig, load_model
from scorekit.score.refine import refine_case
from scorekit.score.trainer import TrainOptions, checkpoint_meta, train


def test_training_writes_a_model_history_and_checkpoint(trained):
    names = {p.name for p in trained.iterdir()}
    assert {"model.json", "model.safetensors", "history.json",
            "checkpoint_latest.safetensors"} <= names
    assert checkpoint_meta(trained / "checkpoint_latest.safetensors")["step"] == 10
    history = json.loads((trained / "history.json").read_text())["history"]
    assert len(history) == 10 and all(np.isfinite(h["loss"]) for h in history)
    config = json.loads((trained / "model.json").read_text())
    assert config["training"]["steps"] == 10 and config["regions"] == ["humerus_left",
                                                                       "humerus_right"]



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
    checkpoint = out / "checkpoint_latest.safetensors"
    deadline = time.monotonic() + 240
    while not checkpoint.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert checkpoint.exists(), "no checkpoint was written before the deadline"
    killed_at = checkpoint_meta(checkpoint)["step"]
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
    assert checkpoint_meta(checkpoint)["step"] >= 60
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



def test_gated_labels_train_score_and_are_refused_without_a_gate(small_phantom_workspace,
                                                                 tmp_path):
    out = tmp_path / "gated"
    train(small_phantom_workspace.path, out, TrainOptions(
        steps=2, lr=1e-3, gated_labels=True, hold_band=True, **TINY), device="cpu")
    training = load_model(out)[1].training
    assert training["gated_labels"] and training["hold_band"]
    with pytest.raises(ScoreKitError, match="gated labels need the learned gate"):
        train(small_phantom_workspace.path, tmp_path / "dae", TrainOptions(
            steps=2, method="post-dae", gated_labels=True, **TINY), device="cpu")


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


def test_a_workspace_where_one_case_lacks_a_region_trains_on_the_union(tmp_path):
    from scorekit.data.labelmap import LabelMap
    from scorekit.data.workspace import Workspace
    from scorekit.synth import write_phantom_workspace

    phantoms = write_phantom_workspace(tmp_path / "phantoms", cases=2, seed=5, size_xy=96,
                                       slices=120, spacing=(2.0, 2.0, 2.7))
    ws = Workspace.create(tmp_path / "ws")
    first, second = phantoms.cases()
    ws.add_case(first.id, first.image(), first.initial(), first.reference())
    both = second.initial()
    left = both.value_of("humerus_left")
    one_arm = LabelMap(np.where(both.array == left, left, 0).astype(both.array.dtype),
                       both.geometry, regions={left: "humerus_left"})
    ws.add_case(second.id, second.image(), one_arm)
    ws.ratings.put([r for r in phantoms.ratings.all()
                    if r.case == first.id or r.region == "humerus_left"])
    out = train(ws.path, tmp_path / "m", TrainOptions(steps=3, lr=1e-3, **TINY), "cpu")
    _, config = load_model(out)
    assert config.regions == ["humerus_left", "humerus_right"]
    # the one-arm case counts (its rating set is whole): one trains, the other validates
    assert (config.training["cases"], config.training["validation_cases"]) == (1, 1)


# A child that trains (or resumes) with the tiny options, checkpointing every two steps.
TRAIN_SCRIPT = """
import sys
from scorekit.score.trainer import TrainOptions, train
options = TrainOptions(steps=400, lr=1e-3, seed=11, checkpoint_every=2, validate_every=6,
                       patch_size=[32, 32, 32], features=[8, 16, 32])
train(sys.argv[1], sys.argv[2], options, "cpu", resume=True)
"""


def _model_tensors(path) -> dict:
    from safetensors.torch import load_file

    return {k: v for k, v in load_file(str(path)).items() if k.startswith("model.")}


def _step(folder) -> int:
    """The step of the checkpoint in ``folder`` (-1: none, or caught mid-rename)."""
    try:
        return checkpoint_meta(folder / "checkpoint_latest.safetensors")["step"]
    except ScoreKitError:
        return -1


@pytest.mark.slow
def test_training_killed_twenty_times_ends_as_an_unkilled_run(small_phantom_workspace, tmp_path):
    """Kills at random instants of running training (one to six checkpoints on, however
    long the start takes on a busy machine) and inside checkpoint and model writes (when their
    temporary file appears): every model and checkpoint left between kills loads, and the
    resumed run ends with the weights of a run never killed."""
    import random

    reference, killed = tmp_path / "reference", tmp_path / "killed"
    command = [sys.executable, "-c", TRAIN_SCRIPT, str(small_phantom_workspace.path)]
    subprocess.run([*command, str(reference)], check=True, timeout=600,
                   capture_output=True)
    chance, interrupted = random.Random(5), 0
    for kill in range(20):
        there = {p.name for p in killed.iterdir()} if killed.is_dir() else set()
        process = subprocess.Popen([*command, str(killed)], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        target = _step(killed) + 2 * chance.randint(1, 6)  # checkpoints come every 2 steps
        while process.poll() is None and time.monotonic() < deadline:
            if kill % 2 == 0 and killed.is_dir() and any(
                    p.name.startswith(".") and p.name not in there for p in killed.iterdir()):
                break  # inside a write: its temporary file has appeared
            # training runs: kill one to six checkpoints on, at a random instant after; counted
            # in steps, so that a fast machine does not finish the run within the kills
            if kill % 2 and _step(killed) >= target:
                time.sleep(chance.uniform(0.0, 0.05))
                break
            time.sleep(0.002)
        interrupted += process.poll() is None
        process.kill()
        process.wait()
        if (killed / "model.safetensors").exists():
            load_model(killed)  # the old model or the new one, never a mixture
        if (killed / "checkpoint_latest.safetensors").exists():
            assert checkpoint_meta(killed / "checkpoint_latest.safetensors")["step"] <= 400
    assert interrupted >= 18  # the kills fell inside running trainings
    assert checkpoint_meta(killed / "checkpoint_latest.safetensors")["step"] < 400
    subprocess.run([*command, str(killed)], check=True, timeout=600, capture_output=True)
    final, expected = (_model_tensors(out / "checkpoint_latest.safetensors")
                       for out in (killed, reference))
    assert final.keys() == expected.keys()
    assert all(torch.equal(final[k], expected[k]) for k in final)
    assert not [p.name for p in killed.iterdir() if p.name.startswith(".")]  # no leftovers


def test_two_rated_cases_hold_one_out_and_a_single_case_judges_itself():
    from types import SimpleNamespace

    from scorekit.score.trainer import _split

    cases = [SimpleNamespace(id=name) for name in ("b", "a", "c", "d", "e", "f")]
    assert [[c.id for c in part] for part in _split(cases[:2])] == [["a"], ["b"]]
    assert [[c.id for c in part] for part in _split(cases)] == [["a", "b", "c", "d", "e"],
                                                                 ["f"]]
    assert _split(cases[:1]) == (cases[:1], [])


def test_the_saved_config_counts_the_steps_its_weights_come_from():
    """A best model kept at step 7 of 20 says 7; the 20 asked for are kept beside."""
    from scorekit.score.method import ScoreTrainer
    from scorekit.score.trainer import _ProcessGroup

    config = ModelConfig(regions=["humerus_left"], patch_size=[32] * 3, features=[8, 16, 32])
    run = ScoreTrainer(config, TrainOptions(steps=20, **TINY), torch.device("cpu"),
                       Path("unused"), _ProcessGroup())
    run.step = 7
    training = run._final_config(3, 1).training
    assert (training["steps"], training["steps_planned"]) == (7, 20)
    assert (training["cases"], training["validation_cases"]) == (3, 1)


def test_a_verdicts_evidence_reloads_the_rated_regions_it_weighed(trained,
                                                                   small_phantom_workspace):
    """Two cases of two regions: the held-out one holds too few rated regions, so the
    support criterion weighed both, and re-judging them gives the recorded mean benefit."""
    from scorekit.score.prior_refine import rating_agreement
    from scorekit.score.trainer import verdict_evidence
    from scorekit.score.verdict import read_verdict

    network, config, cases = verdict_evidence(small_phantom_workspace.path, trained)
    assert sorted(c.id for c in cases) == sorted(c.id for c in small_phantom_workspace.cases())
    assert all(c.reference is not None for c in cases)
    gains = rating_agreement(cases, network, config)
    verdict = read_verdict(trained)
    assert np.mean(gains["model"]) == pytest.approx(verdict["agreement"]["model"], abs=1e-5)
    assert len(gains["model"]) == 4
    assert verdict["support"] == ("4 rated regions of every rated case (the held-out ones "
                                  "hold fewer than 10)")


def test_a_region_free_model_trains_one_network_for_every_region(small_phantom_workspace,
                                                                  tmp_path):
    out = train(small_phantom_workspace.path, tmp_path / "m",
                TrainOptions(steps=3, lr=1e-3, region_free=True, **TINY), "cpu")
    network, config = load_model(out)
    assert config.region_free and config.channels == ["image", "initial:*", "prior"]
    assert network.unet.model[0].conv.in_channels == 3
    case = small_phantom_workspace.cases()[0]
    refined = refine_case(case.image(), case.initial(), network, config, torch.device("cpu"))
    assert refined.names == case.initial().names
    with pytest.raises(ScoreKitError, match="region-free"):
        train(small_phantom_workspace.path, tmp_path / "bg", TrainOptions(
            steps=1, region_free=True, background_region=True, **TINY), "cpu")
    with pytest.raises(ScoreKitError, match=r"post-dae .*no region-free variant"):
        train(small_phantom_workspace.path, tmp_path / "dae", TrainOptions(
            steps=1, region_free=True, method="post-dae", **TINY), "cpu")
