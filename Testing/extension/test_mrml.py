"""MRML nodes <-> label maps on a real scene (slicer-core), and Slicer's own .seg.nrrd writer."""

from __future__ import annotations

import numpy as np
import pytest
from support import GEOMETRY, two_regions

from scorekit.data.labels import read_labelmap, write_labelmap


def test_label_map_round_trips_through_a_segmentation_node_and_slicer_seg_nrrd(
        mrml_scene, tmp_path):
    import slicer

    from SCORESlicerLib.mrml import (
        add_segmentation_node,
        add_volume_node,
        labelmap_from_segmentation_node,
        segments,
    )

    labels = two_regions()
    reference = add_volume_node(labels.with_array(labels.array.astype(np.int16)), "ct")
    node = add_segmentation_node(labels, "initial", reference)
    assert [s.GetName() for s in segments(node).values()] == ["humerus_left", "humerus_right"]

    # Slicer writes the file (cropped to the segments' extent, as it does by default) ...
    storage = mrml_scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(tmp_path / "slicer.seg.nrrd"))
    assert storage.WriteData(node)
    from_slicer = read_labelmap(tmp_path / "slicer.seg.nrrd")
    assert from_slicer.names == ["humerus_left", "humerus_right"]
    # ... and its cropped grid still lands on the same physical voxels.
    from scorekit.data.labels import resample_labelmap

    on_grid = resample_labelmap(from_slicer, GEOMETRY)
    assert np.array_equal(on_grid.array, labels.array)

    # Our file loads in Slicer with the same names, and exports back to the same voxels.
    write_labelmap(labels, tmp_path / "ours.seg.nrrd")
    loaded = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    reader = mrml_scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    reader.SetFileName(str(tmp_path / "ours.seg.nrrd"))
    assert reader.ReadData(loaded)
    back = labelmap_from_segmentation_node(loaded, reference)
    assert back.regions == labels.regions
    assert back.geometry.matches(GEOMETRY)
    assert np.array_equal(back.array, labels.array)
    assert segments(loaded)["Segment_1"].GetColor() == pytest.approx((1.0, 0.5, 0.0))



def test_overlapping_segments_from_slicer_are_flattened_last_one_wins(mrml_scene, tmp_path):
    from SCORESlicerLib.mrml import add_segmentation_node, add_volume_node, segments

    labels = two_regions()
    reference = add_volume_node(labels.with_array(labels.array.astype(np.int16)), "ct")
    node = add_segmentation_node(labels, "initial", reference)
    # Paint an overlapping third segment: Slicer then stores two layers (a 4D file).
    import slicer

    overlap = np.zeros(GEOMETRY.shape, np.uint8)
    overlap[3:7, 5:12, 5:22] = 1
    segment_id = node.GetSegmentation().AddEmptySegment("", "overlap")
    slicer.util.updateSegmentBinaryLabelmapFromArray(overlap, node, segment_id, reference)
    storage = mrml_scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(tmp_path / "layers.seg.nrrd"))
    assert storage.WriteData(node)
    assert len(segments(node)) == 3

    from scorekit.data.labels import resample_labelmap

    back = resample_labelmap(read_labelmap(tmp_path / "layers.seg.nrrd"), GEOMETRY)
    assert back.names == ["humerus_left", "humerus_right", "overlap"]
    assert np.all(back.array[overlap == 1] == back.value_of("overlap"))
    left_only = (labels.array == 1) & (overlap == 0)
    assert np.all(back.array[left_only] == back.value_of("humerus_left"))


def _translated(mrml_scene, node, right_mm: float):
    import vtk

    transform = mrml_scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "moved")
    matrix = vtk.vtkMatrix4x4()
    matrix.SetElement(0, 3, right_mm)
    transform.SetMatrixTransformToParent(matrix)
    node.SetAndObserveTransformNodeID(transform.GetID())
    return transform


def test_a_moved_volume_is_read_where_it_is_shown_and_segments_follow_it(mrml_scene):
    from SCORESlicerLib.mrml import (
        add_segmentation_node,
        add_volume_node,
        labelmap_from_segmentation_node,
        volume_from_node,
    )

    labels = two_regions()
    volume = add_volume_node(labels.with_array(labels.array.astype(np.int16)), "ct")
    assert volume.GetDisplayNode() is not None  # shows in the views
    _translated(mrml_scene, volume, 10.0)
    moved = volume_from_node(volume).geometry
    assert moved.origin == pytest.approx((GEOMETRY.origin[0] - 10.0, *GEOMETRY.origin[1:]))
    nodes = mrml_scene.GetNumberOfNodes()
    # A result computed on the moved grid lands back on the same voxels.
    from dataclasses import replace

    segmentation = add_segmentation_node(replace(labels, geometry=moved), "seg", volume)
    assert mrml_scene.GetNumberOfNodes() == nodes + 2  # the node and its display node only
    back = labelmap_from_segmentation_node(segmentation, volume)
    assert mrml_scene.GetNumberOfNodes() == nodes + 2
    assert back.geometry.matches(moved)
    assert np.array_equal(back.array, labels.array)


def test_a_volume_under_a_non_linear_transform_is_refused_by_name(mrml_scene):
    import slicer

    from scorekit.errors import ScoreKitError
    from SCORESlicerLib.mrml import add_volume_node, volume_from_node

    labels = two_regions()
    volume = add_volume_node(labels.with_array(labels.array.astype(np.int16)), "ct")
    warp = mrml_scene.AddNewNodeByClass("vtkMRMLGridTransformNode", "warp")
    volume.SetAndObserveTransformNodeID(warp.GetID())
    if warp.IsTransformToWorldLinear():
        pytest.skip("an empty grid transform counts as linear in this Slicer")
    with pytest.raises(ScoreKitError, match=r"'ct' is under a non-linear transform \('warp'\)"):
        volume_from_node(volume)
    assert slicer.mrmlScene is mrml_scene
