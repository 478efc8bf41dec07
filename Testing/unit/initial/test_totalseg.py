"""The TotalSegmentator runner, up to loading its weights (which cannot be downloaded
here), and its class map."""

from __future__ import annotations

import pytest

from scorekit.cli import main
from scorekit.data.labels import read_labelmap
from scorekit.errors import ScoreKitError
from scorekit.initial import totalseg
from scorekit.initial.totalseg import class_map_names

pytest.importorskip("totalsegmentator", reason="TotalSegmentator is an optional extra")


HUMERI = ["humerus_left", "humerus_right"]



@pytest.fixture()
def weights(tmp_path, monkeypatch):
    """An empty weights folder, and a TotalSegmentator home that is not the user's."""
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setenv("TOTALSEG_WEIGHTS_PATH", str(folder))
    monkeypatch.setenv("TOTALSEG_HOME_DIR", str(tmp_path / "home"))
    return folder



def fake_weights(folder, task_id, with_checkpoint=True):
    from totalsegmentator.libs import TASK_ID_WEIGHTS_CONFIGS

    fold = (folder / TASK_ID_WEIGHTS_CONFIGS[task_id]["foldername"]
            / "nnUNetTrainer__nnUNetPlans__3d_fullres" / "fold_0")
    fold.mkdir(parents=True)
    if with_checkpoint:
        (fold / "checkpoint_final.pth").write_bytes(b"not a checkpoint")



def test_weights_check_names_every_missing_folder_in_an_empty_weights_folder(weights):
    with pytest.raises(ScoreKitError) as info:
        totalseg.check_weights(HUMERI, fast=False)
    message = str(info.value)
    # Humeri live in part 4 (muscles); roi_subset also needs the 6 mm crop model.
    assert "Dataset294_TotalSegmentator_part4_muscles" in message
    assert "Dataset298_TotalSegmentator_total_6mm" in message
    assert "Dataset291" not in message
    assert "TOTALSEG_WEIGHTS_PATH" in message and "scorekit download-weights" in message



def test_weights_check_on_a_partial_folder_lists_only_what_is_missing(weights):
    fake_weights(weights, 298)
    fake_weights(weights, 294, with_checkpoint=False)  # an interrupted download
    with pytest.raises(ScoreKitError) as info:
        totalseg.check_weights(HUMERI, fast=False)
    assert "Dataset294" in str(info.value) and "Dataset298" not in str(info.value)
    fake_weights(weights, 297)
    totalseg.check_weights(HUMERI, fast=True)  # 3 mm + crop model present: passes



def test_downloading_offline_names_the_model_and_the_offline_route(weights):
    fake_weights(weights, 298)  # present: only part 4 is fetched
    with pytest.raises(ScoreKitError) as info:
        totalseg.download_weights(HUMERI, fast=False)
    message = str(info.value)
    assert "Dataset294_TotalSegmentator_part4_muscles" in message and "task 294" in message
    assert "TOTALSEG_WEIGHTS_PATH" in message and "\n" not in message
    assert not any(p.name.startswith("Dataset294") for p in weights.iterdir())


def test_whole_task_needs_all_five_parts(weights):
    ids = [w.task_id for w in totalseg.required_weights(None, fast=False)]
    assert ids == [291, 292, 293, 294, 295]



def test_unknown_class_names_are_refused_with_the_closest_valid_names():
    with pytest.raises(ScoreKitError, match="did you mean humerus_left"):
        totalseg.validate_structures(["humerus_lft"])
    assert totalseg.validate_structures(["liver", "femur_right"]) == ["liver", "femur_right"]



def test_real_totalsegmentator_runs_up_to_loading_its_weights(weights, humerus_data, tmp_path,
                                                             capsys):
    fake_weights(weights, 297)
    fake_weights(weights, 298)
    out = tmp_path / "seg.seg.nrrd"
    code = main(["segment", "--image", str(humerus_data / "dicom"), "--out", str(out),
                 "--fast", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "TotalSegmentator failed" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    import json

    config = json.loads((tmp_path / "home" / "config.json").read_text())
    assert config["send_usage_stats"] is False



def test_totalsegmentator_multilabel_output_reads_with_names(shared_data):
    seg = read_labelmap(shared_data / "ct" / "totalseg_example_ct" /
                        "example_seg_fast_force_split.nii.gz", names=class_map_names("total"))
    assert {"femur_left", "femur_right", "sacrum"} <= set(seg.names)
    assert "humerus_left" not in seg.names
