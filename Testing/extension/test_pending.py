"""A child job's result on a real MRML scene (slicer-core): it ends in one outcome without
raising, whatever happened, and it never lands in a scene other than the one it started
in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def phantom(mrml_scene, small_phantom_workspace):
    from SCORESlicerLib.mrml import add_volume_node

    return add_volume_node(small_phantom_workspace.cases()[0].image(), "phantom")


def segment(volume):
    """The threshold engine in a child, as Segment starts it."""
    from SCORERefineLib.logic import RefineLogic

    return RefineLogic.start_segment(volume, ["humerus_left"], engine="threshold", device="cpu")


def run_to_end(pending, timeout: float = 300):
    """As the job panel does: one step per tick until the job has ended."""
    import time

    deadline = time.monotonic() + timeout
    while not pending.step():
        assert time.monotonic() < deadline, "the job did not end"
        time.sleep(0.01)
    return pending


def conclude(pending):
    from SCORESlicerLib.pending import conclude

    results, errors = [], []
    outcome = conclude(pending, results.append, errors.append)
    return outcome, results, errors


def segmentations(scene) -> int:
    return scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode")


def test_a_failed_job_ends_in_one_reported_error_not_a_raise(mrml_scene, phantom, tmp_path):
    from WeakStatSegLib.logic import WeakStatLogic

    pending = run_to_end(WeakStatLogic.start_segment(phantom, tmp_path / "no-model",
                                                     device="cpu"))
    outcome, results, errors = conclude(pending)
    assert (outcome, results) == ("failed", [])
    assert len(errors) == 1 and "no-model" in str(errors[0])


def test_the_widgets_enable_their_buttons_after_any_ending():
    """Every job's end goes through ``conclude`` and then ``updateButtons``; nothing shows
    an error with Slicer's re-raising ``tryWithErrorDisplay`` except the one helper."""
    widget = (ROOT / "SCORESlicerLib" / "widget.py").read_text()
    finished = widget[widget.index("def finished(job)"):widget.index("if not self.jobs.busy")]
    assert "conclude(" in finished and finished.rstrip().endswith("self.updateButtons()")
    for path in [ROOT / "SCORERefine" / "SCORERefine.py", ROOT / "WeakStatSeg" / "WeakStatSeg.py",
                 ROOT / "SCORESlicerLib" / "widget.py"]:
        uses = re.findall(r"tryWithErrorDisplay\(", path.read_text())
        assert len(uses) == (1 if path.name == "widget.py" else 0), path.name


def test_closing_the_scene_cancels_a_running_segmentation(mrml_scene, phantom):
    pending = segment(phantom)
    pending.step()  # the CT is being written, or the child runs
    assert pending.returncode is None
    mrml_scene.Clear(0)  # File > Close Scene: the next patient
    assert pending.cancelled and pending.step()
    assert pending.job is None or pending.job.cancelled or pending.job.returncode is not None
    outcome, results, errors = conclude(pending)
    assert (outcome, results, errors) == ("cancelled", [], [])
    assert segmentations(mrml_scene) == 0


def test_a_result_ready_when_the_scene_closes_is_dropped(mrml_scene, phantom):
    pending = run_to_end(segment(phantom))
    assert pending.returncode == 0, pending.error
    mrml_scene.Clear(0)
    outcome, results, _ = conclude(pending)
    assert (outcome, results) == ("cancelled", [])
    assert segmentations(mrml_scene) == 0
    assert not pending.folder.exists()


def test_a_result_in_its_own_scene_arrives(mrml_scene, phantom):
    outcome, results, errors = conclude(_finished(segment(phantom)))
    assert (outcome, errors) == ("done", [])
    assert results[0].GetName() == "phantom threshold" and segmentations(mrml_scene) == 1


def _finished(pending):
    run_to_end(pending)
    assert pending.returncode == 0, pending.error
    return pending


def test_a_second_segmentation_reuses_the_output_node(mrml_scene, phantom):
    from SCORERefineLib.logic import RefineLogic

    first = RefineLogic.segment(phantom, ["humerus_left"], engine="threshold", device="cpu")
    again = RefineLogic.start_segment(phantom, ["humerus_left", "humerus_right"],
                                      engine="threshold", device="cpu", output_node=first)
    assert again.wait(timeout=300) is first
    assert segmentations(mrml_scene) == 1
    names = [first.GetSegmentation().GetNthSegment(i).GetName()
             for i in range(first.GetSegmentation().GetNumberOfSegments())]
    assert names == ["humerus_left", "humerus_right"]  # replaced, empty ones kept
    RefineLogic.segment(phantom, ["humerus_left"], engine="threshold", device="cpu")
    assert segmentations(mrml_scene) == 2  # no output chosen: a new node


def test_segment_shows_the_childs_steps_on_the_progress_bar(mrml_scene, phantom):
    from SCORERefineLib.logic import RefineLogic

    states = []
    pending = RefineLogic.start_segment(phantom, ["humerus_left"], engine="threshold",
                                        device="cpu", on_progress=lambda s: states.append(
                                            (s.stage, s.done, s.total, s.info.get("step"))))
    pending.wait(timeout=300)
    steps = [(done, total, step) for stage, done, total, step in states if stage == "segment"]
    assert steps[-1][:2] == (3, 3)
    assert [step for *_, step in steps if step] == ["read", "threshold", "write"]


def test_the_refined_output_is_never_the_initial_segmentation(mrml_scene, phantom, tmp_path):
    from scorekit.errors import ScoreKitError
    from SCORERefineLib.logic import RefineLogic

    initial = RefineLogic.segment(phantom, ["humerus_left"], engine="threshold", device="cpu")
    with pytest.raises(ScoreKitError, match="is the initial segmentation"):
        RefineLogic.start_refine(phantom, initial, tmp_path, output_node=initial)


def test_a_segment_refined_to_nothing_stays_and_is_named(mrml_scene, small_phantom_workspace):
    import numpy as np

    from scorekit.data.labelmap import LabelMap
    from SCORERefineLib.logic import compare, emptied, keep_every_segment
    from SCORESlicerLib.mrml import add_segmentation_node, add_volume_node, empty_segments

    case = small_phantom_workspace.cases()[0]
    volume = add_volume_node(case.image(), "phantom")
    initial = case.initial()
    lost = initial.names[0]
    value = next(v for v, n in initial.regions.items() if n == lost)
    refined = LabelMap(np.where(initial.array == value, 0, initial.array), initial.geometry,
                       regions={v: n for v, n in initial.regions.items() if n != lost})
    node = add_segmentation_node(refined, "refined", volume)
    keep_every_segment(initial, node)
    names = {node.GetSegmentation().GetNthSegment(i).GetName()
             for i in range(node.GetSegmentation().GetNumberOfSegments())}
    assert names == set(initial.names)
    assert empty_segments(node) == [lost]
    assert emptied(compare(initial, refined)) == [lost]


def test_totalsegmentator_classes_get_their_standard_terms(mrml_scene, phantom):
    """The terms TotalSegmentator's own map gives, in the form Slicer's terminology logic
    reads (checked with that logic)."""
    import slicer
    import vtk

    from SCORERefineLib.logic import RefineLogic

    pytest.importorskip("totalsegmentator")
    node = RefineLogic.segment(phantom, ["humerus_left", "humerus_right"], engine="threshold",
                               device="cpu")
    logic = slicer.vtkSlicerTerminologiesModuleLogic()
    tag = slicer.vtkSegment.GetTerminologyEntryTagName()
    for index, side in ((0, "Left"), (1, "Right")):
        segment = node.GetSegmentation().GetNthSegment(index)
        value = vtk.reference("")
        assert segment.GetTag(tag, value)
        value = str(value)
        entry = slicer.vtkSlicerTerminologyEntry()
        assert logic.DeserializeTerminologyEntry(value, entry), value
        assert entry.GetTypeObject().GetCodeValue() == "85050009"  # SNOMED CT: humerus
        assert entry.GetTypeObject().GetCodeMeaning() == "Humerus"
        assert entry.GetTypeModifierObject().GetCodeMeaning() == side
        assert entry.GetCategoryObject().GetCodingSchemeDesignator() == "SCT"


def test_a_failed_hand_over_ends_the_job_with_its_error(mrml_scene, phantom):
    """(A full disk, say): one reported error, not an exception at every timer tick."""
    from SCORESlicerLib.pending import PendingResult

    def prepare(folder):
        yield
        raise OSError(28, "No space left on device")

    pending = PendingResult(prepare, lambda folder: None)
    assert pending.state.stage == "handing over"
    outcome, results, errors = conclude(run_to_end(pending))
    assert (outcome, results) == ("failed", [])
    assert "No space left on device" in str(errors[0]) and not pending.folder.exists()
