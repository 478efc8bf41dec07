"""WeakStatSeg's logic on a real MRML scene (slicer-core): fraction, weak mask, dataset,
training in a child process, segmentation into a node."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scorekit.data.labelmap import LabelMap
from scorekit.data.volume import Geometry, Volume
from scorekit.errors import ScoreKitError
from scorekit.synth.ultrasound import lesion_phantom
from scorekit.weakstat.data import read_dataset
from scorekit.weakstat.model import load_model
from scorekit.weakstat.weakmask import weak_mask_from_reference

ROOT = Path(__file__).resolve().parents[2]

# A 2D picture as Slicer loads it: a single-slice volume.
GEOMETRY = Geometry((112, 96, 1), (0.2, 0.2, 1.0), (0.0, 0.0, 0.0),
                    (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))


def _picture_nodes(seed: int, weak_fraction: float | None = 0.08):
    from SCORESlicerLib.mrml import add_segmentation_node, add_volume_node

    image, lesion = lesion_phantom(seed, (96, 112))
    volume = add_volume_node(Volume(image[None].astype(np.float32), GEOMETRY), f"us{seed}")
    roi = add_segmentation_node(LabelMap(lesion[None].astype(np.uint8), GEOMETRY,
                                         {1: "lesion"}), f"us{seed} roi", volume)
    if weak_fraction is None:  # a weak segment that nothing was painted into
        import slicer

        painted = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode")
        painted.SetReferenceImageGeometryParameterFromVolumeNode(volume)
        painted.GetSegmentation().AddEmptySegment("weak")
        return volume, roi, painted, lesion
    weak = weak_mask_from_reference(lesion, weak_fraction)
    painted = add_segmentation_node(LabelMap(weak[None].astype(np.uint8), GEOMETRY,
                                             {1: "weak"}), f"us{seed} weak", volume)
    return volume, roi, painted, lesion


def _first(node) -> str:
    from SCORESlicerLib.mrml import segments

    return next(iter(segments(node)))


def test_fraction_and_weak_mask_become_a_dataset_without_the_mask(mrml_scene, tmp_path):
    from WeakStatSegLib.logic import WeakStatLogic

    for seed in range(3):
        volume, roi, painted, lesion = _picture_nodes(seed)
        fraction = WeakStatLogic.measure_fraction(roi, _first(roi), volume)
        assert fraction == pytest.approx(lesion.mean(), abs=1e-6)
        WeakStatLogic.add_image(tmp_path / "ds", f"us{seed}", volume, fraction, painted,
                                _first(painted))
    # A second image under a used name is refused, files and row untouched, unless the
    # user chose to replace it.
    before = {p: p.read_bytes() for p in (tmp_path / "ds").rglob("*") if p.is_file()}
    other, _, other_weak, _ = _picture_nodes(5)
    with pytest.raises(ScoreKitError, match="'us2': already in"):
        WeakStatLogic.add_image(tmp_path / "ds", "us2", other, 0.2, other_weak,
                                _first(other_weak))
    assert {p: p.read_bytes() for p in (tmp_path / "ds").rglob("*") if p.is_file()} == before
    WeakStatLogic.add_image(tmp_path / "ds", "us2", volume, fraction, painted, _first(painted),
                            replace=True)
    samples = read_dataset(tmp_path / "ds" / "dataset.csv")
    assert [s.name for s in samples] == ["us0.nii.gz", "us1.nii.gz", "us2.nii.gz"]
    assert all(s.mask is None and s.dims == 2 for s in samples)
    assert samples[2].fraction == pytest.approx(lesion.mean(), abs=1e-5)
    assert samples[2].weak.sum() == round(0.08 * lesion.sum())
    assert not (samples[2].weak & ~lesion).any()


def test_bad_statistics_and_weak_masks_are_refused_before_writing(mrml_scene, tmp_path):
    from WeakStatSegLib.logic import WeakStatLogic

    volume, _, painted, _ = _picture_nodes(0)
    with pytest.raises(ScoreKitError, match=r"'us0': ROI fraction 1.2 is outside \[0, 1\]"):
        WeakStatLogic.add_image(tmp_path / "ds", "us0", volume, 1.2, painted, _first(painted))
    with pytest.raises(ScoreKitError, match="more than the ROI"):
        WeakStatLogic.add_image(tmp_path / "ds", "us0", volume, 0.0001, painted,
                                _first(painted))
    _, _, empty, _ = _picture_nodes(1, weak_fraction=None)
    with pytest.raises(ScoreKitError, match="'us1': the weak mask is empty or outside"):
        WeakStatLogic.add_image(tmp_path / "ds", "us1", volume, 0.1, empty, _first(empty))
    with pytest.raises(ScoreKitError, match="image name 'a/b'"):
        WeakStatLogic.add_image(tmp_path / "ds", "a/b", volume, 0.1, painted, _first(painted))
    assert not (tmp_path / "ds").exists()


def test_training_in_a_child_process_then_segmenting_into_a_node(mrml_scene, tmp_path):
    from SCORESlicerLib.mrml import segments
    from WeakStatSegLib.logic import WeakStatLogic

    for seed in range(4):
        volume, roi, painted, _ = _picture_nodes(seed)
        WeakStatLogic.add_image(tmp_path / "ds", f"us{seed}", volume,
                                WeakStatLogic.measure_fraction(roi, _first(roi), volume),
                                painted, _first(painted))
    progress = []
    job = WeakStatLogic.start_training(tmp_path / "ds", tmp_path / "model", steps=3,
                                       backbone="unet2d", size=[64, 64], device="cpu",
                                       roi_contrast="brighter", on_progress=progress.append)
    assert job.wait(timeout=600) == 0, job.error
    assert progress[-1].done == 3
    assert load_model(tmp_path / "model")[1].roi_contrast == "brighter"
    node = WeakStatLogic.segment(volume, tmp_path / "model", device="cpu")
    assert node.GetName() == "us3 WeakStatSeg"
    assert [s.GetName() for s in segments(node).values()] in (["ROI"], [])
    reference = "Reference image geometry"
    assert (node.GetSegmentation().GetConversionParameter(reference)
            == painted.GetSegmentation().GetConversionParameter(reference))  # the image's grid


def test_only_losses_a_dataset_of_the_module_can_train_are_offered(tmp_path):
    """The module's datasets keep no full masks: a "full" loss could only stop training."""
    import ast
    import re

    from WeakStatSegLib.logic import LOSS_CHOICES, WeakStatLogic

    source = (ROOT / "WeakStatSeg" / "WeakStatSeg.py").read_text()
    offered = ast.literal_eval(re.search(r"losses: Annotated\[str, Choice\((\[.*?\])\)",
                                         source).group(1))
    assert offered == list(LOSS_CHOICES) and "full" not in offered
    with pytest.raises(ScoreKitError, match="keeps no full masks"):
        WeakStatLogic.start_training(tmp_path, tmp_path / "model", losses="full")


def test_paint_and_measure_wait_for_an_image():
    import ast

    tree = ast.parse((ROOT / "WeakStatSeg" / "WeakStatSeg.py").read_text())
    refresh = next(f for f in ast.walk(tree)
                   if isinstance(f, ast.FunctionDef) and f.name == "refreshButtons")
    text = ast.unparse(refresh)
    for button in ("measureButton", "paintButton"):
        assert f"self.ui.{button}.enabled = bool(p.inputVolume)" in text, button
