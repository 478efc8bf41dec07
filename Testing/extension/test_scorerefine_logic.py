"""SCORERefine's logic on a real MRML scene (slicer-core): ratings, workspace, train, refine."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from scorekit.data.labels import read_labelmap
from scorekit.data.ratings import OVER, UNDER
from scorekit.data.workspace import Workspace
from scorekit.errors import ScoreKitError
from scorekit.initial.totalseg import class_map_names

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def humerus_nodes(mrml_scene, humerus_data):
    """The shared DICOM CT and its TotalSegmentator prediction as Slicer nodes."""
    from SCORERefineLib.logic import RefineLogic
    from SCORESlicerLib.mrml import add_segmentation_node

    volume = RefineLogic.load_ct(humerus_data / "dicom", "humerus CT")
    prediction = read_labelmap(humerus_data / "example_seg_dicom.nii.gz",
                               class_map_names("total"))
    segmentation = add_segmentation_node(prediction, "TotalSegmentator", volume)
    return volume, segmentation


def _ids_by_name(node) -> dict[str, str]:
    from SCORESlicerLib.mrml import segments

    return {s.GetName(): sid for sid, s in segments(node).items()}


def test_ratings_live_on_segment_tags_and_reach_the_workspace(humerus_nodes, tmp_path):
    from SCORERefineLib.logic import RefineLogic, rating_of, set_rating, unrated_segments

    volume, segmentation = humerus_nodes
    ids = _ids_by_name(segmentation)
    assert {"humerus_left", "humerus_right"} <= set(ids)
    set_rating(segmentation, ids["humerus_left"], 3, "under", seconds=12.5, rater="dr a")
    set_rating(segmentation, ids["humerus_right"], 5, "none", seconds=4.0, rater="dr a")
    stored = rating_of(segmentation.GetSegmentation().GetSegment(ids["humerus_left"]))
    assert (stored.quality, stored.error, stored.seconds) == (3, UNDER, 12.5)
    assert "humerus_left" not in unrated_segments(segmentation)

    case = RefineLogic.add_case(tmp_path / "ws", "patient_01", volume, segmentation)
    ws = Workspace(tmp_path / "ws")
    written = {r.region: r for r in ws.ratings.all("patient_01")}
    assert (written["humerus_left"].quality, written["humerus_left"].error) == (3, UNDER)
    assert written["humerus_left"].seconds == 12.5 and written["humerus_left"].rater == "dr a"
    assert written["humerus_right"].quality == 5
    # The image and the segmentation went in on the CT grid, humeri on bone.
    image, initial = case.image(), case.initial()
    assert initial.geometry.matches(image.geometry)
    for name in ("humerus_left", "humerus_right"):
        assert image.array[initial.mask(name)].mean() > 300, name

    # A changed rating replaces the stored one, once the module has asked.
    assert RefineLogic.ratings_replaced(tmp_path / "ws", "patient_01", segmentation) == []
    set_rating(segmentation, ids["humerus_left"], 2, "over", seconds=3, rater="dr a")
    assert RefineLogic.ratings_replaced(tmp_path / "ws", "patient_01", segmentation) == [
        "humerus_left"]
    assert RefineLogic.ratings_replaced(tmp_path / "ws", "patient_02", segmentation) == []
    RefineLogic.save_ratings(tmp_path / "ws", "patient_01", segmentation)
    again = {r.region: r for r in ws.ratings.all("patient_01")}
    assert (again["humerus_left"].quality, again["humerus_left"].error) == (2, OVER)


def test_quality_five_if_and_only_if_no_error_is_enforced(humerus_nodes):
    from SCORERefineLib.logic import rating_of, set_rating

    _, segmentation = humerus_nodes
    sid = _ids_by_name(segmentation)["humerus_left"]
    with pytest.raises(ScoreKitError, match=r"humerus_left.*quality 5 means no error"):
        set_rating(segmentation, sid, 5, "under")
    with pytest.raises(ScoreKitError, match=r"humerus_left.*needs an error label"):
        set_rating(segmentation, sid, 3, "none")
    with pytest.raises(ScoreKitError, match="not in"):
        set_rating(segmentation, "no such segment", 3, "under")
    assert rating_of(segmentation.GetSegmentation().GetSegment(sid)) is None


def test_a_case_already_in_the_workspace_is_refused(humerus_nodes, tmp_path):
    from SCORERefineLib.logic import RefineLogic

    volume, segmentation = humerus_nodes
    RefineLogic.add_case(tmp_path / "ws", "p1", volume, segmentation)
    with pytest.raises(ScoreKitError, match="'p1': already in workspace"):
        RefineLogic.add_case(tmp_path / "ws", "p1", volume, segmentation)


def test_a_cancelled_or_failed_child_leaves_no_node_and_no_temporary_folder(
        mrml_scene, small_phantom_workspace, tmp_path, monkeypatch):
    from SCORERefineLib.logic import RefineLogic
    from SCORESlicerLib import pending
    from SCORESlicerLib.mrml import add_segmentation_node, add_volume_node

    case = small_phantom_workspace.cases()[0]
    volume = add_volume_node(case.image(), "phantom")
    initial = add_segmentation_node(case.initial(), "initial", volume)
    nodes = mrml_scene.GetNumberOfNodes()
    cancelled = RefineLogic.start_refine(volume, initial, tmp_path / "model", device="cpu")
    while cancelled.job is None:  # the hand-over, step by step
        cancelled.step()
    folder = cancelled.folder
    assert (folder / "ct.nrrd").exists() and (folder / "initial.seg.nrrd").exists()
    cancelled.discard()
    assert cancelled.cancelled and cancelled.job.cancelled and not folder.exists()
    monkeypatch.setattr(pending, "STEP_BUDGET", 0)  # one piece of the hand-over per step
    halfway = RefineLogic.start_refine(volume, initial, tmp_path / "model", device="cpu")
    halfway.step()
    assert [p.name.startswith(".ct.nrrd") for p in halfway.folder.iterdir()] == [True]
    halfway.discard()  # cancelled while the CT was being written: nothing left behind
    assert halfway.job is None and not halfway.folder.exists()
    failed = RefineLogic.start_refine(volume, initial, tmp_path / "no-model", device="cpu")
    with pytest.raises(ScoreKitError, match="no-model"):
        failed.wait(timeout=300)
    assert not failed.folder.exists()
    assert mrml_scene.GetNumberOfNodes() == nodes


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, small_phantom_workspace):
    """A few steps of ``scorekit train`` in a child process, as the module starts it."""
    from SCORERefineLib.logic import RefineLogic

    out = tmp_path_factory.mktemp("model") / "tiny"
    seen = []
    job = RefineLogic.start_training(small_phantom_workspace.path, out, steps=4, device="cpu",
                                     patch_size=32, on_progress=seen.append)
    assert job.wait(timeout=600) == 0, job.error
    assert seen and seen[-1].done == seen[-1].total == 4
    assert (out / "model.json").exists()
    return out


def test_refine_makes_a_new_node_and_leaves_the_initial_untouched(
        mrml_scene, small_phantom_workspace, tiny_model):
    from SCORERefineLib.logic import RefineLogic
    from SCORESlicerLib.mrml import (
        add_segmentation_node,
        add_volume_node,
        labelmap_from_segmentation_node,
        segments,
    )

    case = small_phantom_workspace.cases()[0]
    volume = add_volume_node(case.image(), "phantom")
    initial = add_segmentation_node(case.initial(), "initial", volume)
    for segment in segments(initial).values():
        segment.SetColor(0.1, 0.7, 0.3)
    before = labelmap_from_segmentation_node(initial, volume)

    # The child runs while the caller's event loop goes on; the node comes afterwards.
    states = []
    pending = RefineLogic.start_refine(volume, initial, tiny_model, device="cpu",
                                       on_progress=lambda s: states.append((s.stage, s.done)))
    assert pending.returncode is None
    assert mrml_scene.GetFirstNodeByName("initial refined") is None
    refined, rows = pending.wait(timeout=600)
    assert [done for stage, done in states if stage == "refine"][-1] == 3  # the child's steps

    assert refined.GetName() == "initial refined"
    names = [s.GetName() for s in segments(refined).values()]
    assert names == [s.GetName() for s in segments(initial).values()]
    assert all(s.GetColor() == pytest.approx((0.1, 0.7, 0.3))
               for s in segments(refined).values())
    assert (refined.GetNodeReferenceID("referenceImageGeometryRef") == volume.GetID()
            or refined.GetSegmentation().GetConversionParameter("Reference image geometry")
            == initial.GetSegmentation().GetConversionParameter("Reference image geometry"))
    after = labelmap_from_segmentation_node(refined, volume)
    assert after.geometry.matches(before.geometry)
    unchanged = labelmap_from_segmentation_node(initial, volume)
    assert np.array_equal(unchanged.array, before.array)
    assert [r.name for r in rows] == names
    for row in rows:
        assert row.initial_ml == pytest.approx(
            before.mask(row.name).sum() * before.geometry.voxel_volume_ml)
        assert 0.0 <= row.dice <= 1.0


def test_a_training_job_cancels_and_offers_to_resume(small_phantom_workspace, tmp_path):
    from SCORERefineLib.logic import RefineLogic

    out = tmp_path / "long"
    progress = []
    job = RefineLogic.start_training(small_phantom_workspace.path, out, steps=100000,
                                     device="cpu", patch_size=32, on_progress=progress.append)
    deadline = time.monotonic() + 300
    while not (out / "checkpoint_latest.safetensors").exists() and time.monotonic() < deadline:
        assert job.poll() is None, job.error
        time.sleep(0.2)
    job.cancel()
    assert job.cancelled
    assert job.wait(timeout=30) != 0
    assert progress and progress[-1].remaining is not None
    assert RefineLogic.can_resume(out)
    assert not (out / "model.json").exists()


def test_a_failing_job_reports_the_childs_error_line(tmp_path):
    from scorekit import jobs

    with pytest.raises(ScoreKitError, match="not a scorekit workspace"):
        jobs.run(["train", "--workspace", tmp_path, "--out", tmp_path / "m"])


@pytest.mark.parametrize(("before", "changed", "after"), [
    ((5, UNDER), "quality", (5, 0)),        # quality 5 → no error
    ((3, 0), "quality", (3, None)),          # < 5 with "none" → choose an error
    ((3, UNDER), "quality", (3, UNDER)),
    ((3, 0), "error", (5, 0)),             # "none" chosen → quality 5
    ((5, OVER), "error", (None, OVER)),    # an error on a perfect score → choose a quality
    ((None, UNDER), "error", (None, UNDER)),
])
def test_the_rating_panel_keeps_quality_five_iff_no_error(before, changed, after):
    from scorekit.data.ratings import coerce_rating

    assert coerce_rating(*before, changed) == after


def test_ratings_with_separator_characters_survive_a_saved_and_reloaded_seg_nrrd(
        mrml_scene, tmp_path):
    import slicer
    from support import two_regions

    from SCORERefineLib.logic import rating_of, set_rating
    from SCORESlicerLib.mrml import add_segmentation_node, add_volume_node, segments

    labels = two_regions()
    volume = add_volume_node(labels.with_array(labels.array.astype(np.int16)), "ct")
    node = add_segmentation_node(labels, "initial", volume)
    rater = "Dr. A|B: C%20 ü"  # Slicer joins tags as key:value| without escaping
    first, second = segments(node)
    set_rating(node, first, 2, "both", seconds=7, rater=rater)
    set_rating(node, second, 5, "none", seconds=1, rater="x:y")
    storage = mrml_scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(tmp_path / "rated.seg.nrrd"))
    assert storage.WriteData(node)
    loaded = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    assert storage.ReadData(loaded)
    reloaded = [rating_of(s) for s in segments(loaded).values()]
    assert [(r.quality, r.error_label.label, r.rater) for r in reloaded] == [
        (2, "both", rater), (5, "none", "x:y")]


def test_refined_segments_keep_colour_and_terminology_through_the_tag(mrml_scene):
    import slicer
    import vtk
    from support import two_regions

    from SCORERefineLib.logic import copy_segment_appearance
    from SCORESlicerLib.mrml import add_segmentation_node, add_volume_node, segments

    labels = two_regions()
    volume = add_volume_node(labels.with_array(labels.array.astype(np.int16)), "ct")
    source = add_segmentation_node(labels, "initial", volume)
    target = add_segmentation_node(labels.with_array(labels.array), "refined", volume)
    tag = slicer.vtkSegment.GetTerminologyEntryTagName()
    entry = ("Segmentation category and type - 3D Slicer General Anatomy list"
             "~SCT^123037004^Anatomical Structure~SCT^85050009^Humerus~SCT^7771000^Left"
             "~Anatomic codes - DICOM master list~^^~^^")
    original = next(iter(segments(source).values()))
    original.SetTag(tag, entry)
    original.SetColor(0.1, 0.2, 0.3)
    copy_segment_appearance(source, target)
    copied = next(iter(segments(target).values()))
    value = vtk.reference("")
    assert copied.GetTag(tag, value) and str(value) == entry
    assert copied.GetColor() == pytest.approx((0.1, 0.2, 0.3))


def test_the_rating_clock_counts_time_in_a_row_over_every_visit():
    from SCORERefineLib.logic import RatingClock

    now = [100.0]
    clock = RatingClock({"b": 4.0}, now=lambda: now[0])
    clock.enter("a")
    now[0] += 3
    assert clock.spent("a") == 3  # still in the row
    clock.enter("b")  # leaving a for b
    now[0] += 2
    clock.enter("b")  # entering the row it is in changes nothing
    clock.leave()
    now[0] += 50  # nobody's time
    clock.enter("a")
    now[0] += 1
    assert (clock.spent("a"), clock.spent("b")) == (4, 6)


def test_the_views_centre_on_the_segment_being_rated(mrml_scene):
    import slicer
    from support import two_regions

    from SCORERefineLib.logic import centre_views_on
    from SCORESlicerLib.mrml import add_segmentation_node, add_volume_node, segments

    labels = two_regions()
    volume = add_volume_node(labels.with_array(labels.array.astype(np.int16)), "ct")
    node = add_segmentation_node(labels, "initial", volume)
    view = mrml_scene.AddNewNodeByClass("vtkMRMLSliceNode")
    second = list(segments(node))[1]
    centre = centre_views_on(node, second)
    matrix = view.GetSliceToRAS()
    assert [matrix.GetElement(i, 3) for i in range(3)] == pytest.approx(centre)
    # The centre is the second box's, in RAS (LPS x and y change sign).
    ijk = np.argwhere(labels.array == 2).mean(axis=0)[::-1]
    lps = np.array(labels.geometry.origin) + np.array(labels.geometry.direction).reshape(3, 3) @ (
        ijk * np.array(labels.geometry.spacing))
    assert centre == pytest.approx((-lps[0], -lps[1], lps[2]), abs=2.0)
    assert slicer.mrmlScene is mrml_scene


def test_the_sample_ct_can_be_rated_and_shown_in_3d_at_once(mrml_scene):
    import slicer

    from SCORERefineLib.logic import RefineLogic, unrated_segments
    from SCORESlicerLib.mrml import labelmap_from_segmentation_node

    volume, initial = RefineLogic.load_sample()
    assert sorted(unrated_segments(initial)) == ["humerus_left", "humerus_right"]
    labels = labelmap_from_segmentation_node(initial, volume)
    assert all(labels.mask(name).sum() > 1000 for name in labels.names)
    surface = slicer.vtkSegmentationConverter.GetClosedSurfaceRepresentationName()
    RefineLogic.show_in_3d(initial)
    assert initial.GetSegmentation().ContainsRepresentation(surface)
    assert initial.GetDisplayNode().GetVisibility3D()
    RefineLogic.show_in_3d(initial, False)
    assert not initial.GetSegmentation().ContainsRepresentation(surface)


def test_the_refined_segmentation_is_handed_to_the_segment_editor():
    """Widget code (needs the application): the button opens the editor on the refined
    node and the CT, through the helper WeakStatSeg's Paint uses too."""
    source = (ROOT / "SCORERefine" / "SCORERefine.py").read_text()
    handler = source[source.index("def onEditRefined"):source.index("# -- 2. rating panel")]
    assert "self.openSegmentEditor(p.refinedOutput, p.inputVolume)" in handler
    assert 'self.ui.editRefinedButton.connect("clicked(bool)", self.onEditRefined)' in source
    assert "self.openSegmentEditor(" in (ROOT / "WeakStatSeg" / "WeakStatSeg.py").read_text()
