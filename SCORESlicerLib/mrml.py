"""MRML nodes <-> scorekit volumes and label maps, keeping geometry, names and colours.

Slicer nodes live in RAS, files and scorekit in LPS: the first two axes change sign.
Works in the Slicer application and in plain Python with the ``slicer-core`` wheel.
"""

from __future__ import annotations

import contextlib
import os
import types

import numpy as np
import slicer
import vtk

from scorekit.data.atomic import atomic_path
from scorekit.data.labelmap import LabelMap
from scorekit.data.volume import Geometry, Volume
from scorekit.errors import ScoreKitError

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def standalone_scene():
    """The application's scene inside Slicer; outside it (``slicer-core``), a new scene with
    the volumes and segmentations logics that ``slicer.util`` helpers look up."""
    if hasattr(slicer, "app"):
        return slicer.mrmlScene
    scene = slicer.vtkMRMLScene()
    segmentations = slicer.vtkSlicerSegmentationsModuleLogic()
    segmentations.SetMRMLScene(scene)
    volumes = slicer.vtkSlicerVolumesLogic()
    volumes.SetMRMLScene(scene)
    slicer.mrmlScene = scene
    slicer.modules = types.SimpleNamespace(
        segmentations=types.SimpleNamespace(logic=lambda: segmentations),
        volumes=types.SimpleNamespace(logic=lambda: volumes))
    return scene


def save_segmentation(node, path: str | os.PathLike) -> None:
    """Write a segmentation node as Slicer's .seg.nrrd, atomically."""
    storage = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    try:
        with atomic_path(path) as tmp:
            storage.SetFileName(str(tmp))
            if not storage.WriteData(node):
                raise RuntimeError(f"{path}: could not write segmentation '{node.GetName()}'")
    finally:
        slicer.mrmlScene.RemoveNode(storage)


def ijk_to_ras(geometry: Geometry) -> vtk.vtkMatrix4x4:
    direction = np.array(geometry.direction).reshape(3, 3)
    matrix = np.eye(4)
    matrix[:3, :3] = LPS_TO_RAS @ direction @ np.diag(geometry.spacing)
    matrix[:3, 3] = LPS_TO_RAS @ np.array(geometry.origin)
    return slicer.util.vtkMatrixFromArray(matrix)


def world_ijk_to_ras(node) -> np.ndarray:
    """The node's IJK → RAS matrix in world coordinates: a parent linear transform (moved
    or registered volumes) applies; a non-linear one must be hardened first."""
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    ijk_to_ras = slicer.util.arrayFromVTKMatrix(matrix)
    parent = node.GetParentTransformNode()
    if parent is None:
        return ijk_to_ras
    if not parent.IsTransformToWorldLinear():
        raise ScoreKitError(f"'{node.GetName()}' is under a non-linear transform "
                            f"('{parent.GetName()}'); harden it first (Data module)")
    to_world = vtk.vtkMatrix4x4()
    parent.GetMatrixTransformToWorld(to_world)
    return slicer.util.arrayFromVTKMatrix(to_world) @ ijk_to_ras


def geometry_of_node(node) -> Geometry:
    """Geometry (LPS, world coordinates) of a scalar or label map volume node."""
    m = LPS_TO_RAS @ world_ijk_to_ras(node)[:3]
    spacing = np.linalg.norm(m[:, :3], axis=0)
    direction = m[:, :3] / spacing
    size = node.GetImageData().GetDimensions()
    return Geometry(tuple(int(s) for s in size), tuple(float(s) for s in spacing),
                    tuple(float(o) for o in m[:, 3]), tuple(float(d) for d in direction.ravel()))


def add_volume_node(volume: Volume, name: str, labelmap: bool = False):
    """A volume node with display nodes, so that it shows in the views."""
    node_class = "vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode"
    node = slicer.mrmlScene.AddNewNodeByClass(node_class, name)
    slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(volume.array))
    node.SetIJKToRASMatrix(ijk_to_ras(volume.geometry))
    node.CreateDefaultDisplayNodes()
    return node


def volume_from_node(node) -> Volume:
    return Volume(slicer.util.arrayFromVolume(node).copy(), geometry_of_node(node))


def add_segmentation_node(labels: LabelMap, name: str, reference_node=None, into=None):
    """A segmentation node with one segment per region (names and colours kept; a region
    without voxels stays as an empty segment, so that nothing disappears unsaid). ``into``:
    an existing segmentation node whose segments are replaced, instead of a new node."""
    segmentation = into
    if segmentation is None:
        segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    else:
        segmentation.GetSegmentation().RemoveAllSegments()
    if reference_node is not None:
        segmentation.SetReferenceImageGeometryParameterFromVolumeNode(reference_node)
    with scratch_nodes():
        labelmap_node = add_volume_node(labels, name + "_labels", labelmap=True)
        logic = slicer.modules.segmentations.logic()
        if not logic.ImportLabelmapToSegmentationNode(labelmap_node, segmentation):
            raise RuntimeError(f"could not import label map '{name}' into a segmentation")
    for segment in segments(segmentation).values():
        value = segment.GetLabelValue()
        segment.SetName(labels.regions.get(value, segment.GetName()))
        segment.SetColor(*labels.color(value))
    present = {s.GetName() for s in segments(segmentation).values()}
    for value, region in labels.regions.items():
        if region not in present:
            segmentation.GetSegmentation().AddEmptySegment(region, region, labels.color(value))
    segmentation.CreateDefaultDisplayNodes()
    return segmentation


def empty_segments(segmentation_node) -> list[str]:
    """Names of the segments without a voxel (segments may share one label map: each is
    looked for by its label value)."""
    from vtk.util.numpy_support import vtk_to_numpy

    binary = slicer.vtkSegmentationConverter.GetBinaryLabelmapRepresentationName()
    names = []
    for segment in segments(segmentation_node).values():
        image = segment.GetRepresentation(binary)
        scalars = None if image is None else image.GetPointData().GetScalars()
        if scalars is None or not (vtk_to_numpy(scalars) == segment.GetLabelValue()).any():
            names.append(segment.GetName())
    return names


def segments(segmentation_node) -> dict:
    """Segment ID → vtkSegment, in display order."""
    seg = segmentation_node.GetSegmentation()
    ids = [seg.GetNthSegmentID(i) for i in range(seg.GetNumberOfSegments())]
    return {sid: seg.GetSegment(sid) for sid in ids}


@contextlib.contextmanager
def scratch_nodes():
    """Every node added to the scene inside the block is removed at its end (scratch label
    maps and the display and colour-table nodes Slicer adds for them), so repeated
    conversions leave nothing behind."""
    scene = slicer.mrmlScene

    def ids() -> set[str]:
        return {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}

    before = ids()
    try:
        yield
    finally:
        for node_id in ids() - before:
            scene.RemoveNode(scene.GetNodeByID(node_id))


def labelmap_from_segmentation_node(segmentation_node, reference_node) -> LabelMap:
    """Export every segment onto ``reference_node``'s grid; values 1..N in segment order."""
    ids = vtk.vtkStringArray()
    for sid in segments(segmentation_node):
        ids.InsertNextValue(sid)
    with scratch_nodes():
        labelmap_node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
        logic = slicer.modules.segmentations.logic()
        if not logic.ExportSegmentsToLabelmapNode(segmentation_node, ids, labelmap_node,
                                                  reference_node):
            raise RuntimeError("could not export the segmentation to a label map")
        # On the reference's voxel grid; its geometry in world coordinates, as the image's.
        array = slicer.util.arrayFromVolume(labelmap_node).copy()
    names = [s.GetName() for s in segments(segmentation_node).values()]
    colors = [tuple(s.GetColor()) for s in segments(segmentation_node).values()]
    return LabelMap(array, geometry_of_node(reference_node),
                    regions=dict(enumerate(names, start=1)),
                    colors=dict(enumerate(colors, start=1)))


def show_in_3d(segmentation_node, show: bool = True) -> None:
    """Surfaces of every segment in the 3D view (made from the label maps), or none."""
    if show:
        segmentation_node.CreateClosedSurfaceRepresentation()
    else:
        segmentation_node.RemoveClosedSurfaceRepresentation()
    display = segmentation_node.GetDisplayNode()
    if display is not None:
        display.SetVisibility3D(show)
