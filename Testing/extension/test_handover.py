"""The hand-over to a scorekit child on a real MRML scene (slicer-core): what the child
reads is the node's CT and segments exactly (grid, voxels, names), whichever way the
segments are read, and written in pieces."""

from __future__ import annotations

import numpy as np
import pytest

from scorekit.data.labelmap import LabelMap
from scorekit.data.labels import read_labelmap
from scorekit.data.volume import Geometry, Volume, read_volume

# A grid with a turned direction and an odd origin, as real scans have.
TURNED = Geometry((40, 36, 30), (0.8, 0.9, 2.5), (12.5, -40.0, 7.0),
                  (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0))


@pytest.fixture()
def ct_and_segments(mrml_scene):
    from SCORESlicerLib.mrml import add_segmentation_node, add_volume_node

    rng = np.random.default_rng(3)
    image = Volume(rng.integers(-1000, 2000, TURNED.shape).astype(np.int16), TURNED)
    array = np.zeros(TURNED.shape, np.uint8)
    array[5:12, 10:20, 8:15] = 1
    array[20:26, 3:9, 25:33] = 2
    array[10:12, 12:16, 12:14] = 2  # overlaps the first: the later segment wins
    labels = LabelMap(array, TURNED, regions={1: "liver", 2: "spleen"})
    volume = add_volume_node(image, "CT")
    return image, volume, add_segmentation_node(labels, "segments", volume)


def test_segments_on_the_ct_grid_are_read_cropped_and_equal_slicers_export(ct_and_segments):
    from SCORESlicerLib.handover import placed_segments
    from SCORESlicerLib.mrml import labelmap_from_segmentation_node

    _, volume, segmentation = ct_and_segments
    placed = placed_segments(segmentation, volume)
    assert placed.labels.array.shape == (21, 17, 25)  # only where the segments are
    exported = labelmap_from_segmentation_node(segmentation, volume)
    assert np.array_equal(placed.whole().array, exported.array)
    assert placed.labels.regions == exported.regions
    assert placed.labels.geometry.matches(TURNED.cropped(placed.box))


def test_segments_under_a_transform_are_exported_by_slicer(ct_and_segments, mrml_scene):
    from SCORESlicerLib.handover import placed_segments
    from SCORESlicerLib.mrml import labelmap_from_segmentation_node

    _, volume, segmentation = ct_and_segments
    transform = mrml_scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    segmentation.SetAndObserveTransformNodeID(transform.GetID())
    placed = placed_segments(segmentation, volume)
    assert placed.labels.array.shape == TURNED.shape
    assert np.array_equal(placed.whole().array,
                          labelmap_from_segmentation_node(segmentation, volume).array)


def test_what_the_child_reads_is_the_scene_exactly(ct_and_segments, tmp_path, monkeypatch):
    from SCORESlicerLib import handover

    image, volume, segmentation = ct_and_segments
    monkeypatch.setattr(handover, "SLICES_PER_CHUNK", 4)
    placed = handover.placed_segments(segmentation, volume)
    pieces = sum(1 for _ in handover.volume_node_steps(volume, tmp_path / "ct.nrrd"))
    pieces += sum(1 for _ in handover.seg_nrrd_steps(placed, tmp_path / "initial.seg.nrrd"))
    assert pieces == 2 * 8  # 30 slices, 4 at a time, for each file
    ct = read_volume(tmp_path / "ct.nrrd")
    assert ct.geometry.matches(TURNED) and np.array_equal(ct.array, image.array)
    segments = read_labelmap(tmp_path / "initial.seg.nrrd")
    assert segments.geometry.matches(TURNED)
    assert np.array_equal(segments.array, placed.whole().array)
    assert segments.regions == {1: "liver", 2: "spleen"}


def test_a_result_is_cropped_to_what_it_and_the_initial_cover():
    from SCORESlicerLib.handover import occupied_box, place, union

    array = np.zeros(TURNED.shape, np.uint8)
    array[3:5, 6:9, 10:11] = 1
    labels = LabelMap(array, TURNED, regions={1: "liver"})
    box = union((slice(10, 12), slice(0, 2), slice(0, 1)), occupied_box(array))
    assert box == (slice(3, 12), slice(0, 9), slice(0, 11))
    placed = place(labels, box)
    assert np.array_equal(placed.whole().array, array)
    assert occupied_box(np.zeros((2, 2, 2))) is None
