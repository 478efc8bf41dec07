"""Handing a scene's CT and segmentation to a ``scorekit`` child, and its result back, in
pieces small enough that Slicer's GUI thread never waits long.

Out: the CT and the initial segmentation are written as uncompressed NRRD (the child reads
them at disk speed; gzip took seconds), a few slices per step, straight from the node's
voxels. The segments are read from their own label maps, cropped to where they are,
when those lie on the CT's voxel grid (the usual case); otherwise Slicer exports them.

Back: the child's file is read, cropped to the segments and compared with the initial
segmentation in a background thread (SimpleITK and numpy release Python's lock meanwhile);
the GUI thread then only imports the cropped label map.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import slicer
import vtk

from scorekit.data.atomic import atomic_path
from scorekit.data.labelmap import LabelMap
from scorekit.data.volume import Geometry, Volume
from SCORESlicerLib.mrml import (
    geometry_of_node,
    labelmap_from_segmentation_node,
    segments,
    world_ijk_to_ras,
)

SLICES_PER_CHUNK = 8  # 512 × 512 × 8 int16 voxels: 4 MB, a few ms to write
NRRD_TYPES = {"int8": "int8", "uint8": "uint8", "int16": "int16", "uint16": "uint16",
              "int32": "int32", "uint32": "uint32", "float32": "float", "float64": "double"}
Box = tuple[slice, slice, slice]  # [z, y, x] voxel ranges in the full grid


@dataclass(frozen=True)
class Placed:
    """A label map cropped to ``box`` of the ``full`` grid (what the segments cover)."""

    labels: LabelMap
    box: Box
    full: Geometry

    def whole(self) -> LabelMap:
        array = np.zeros(self.full.shape, self.labels.array.dtype)
        array[self.box] = self.labels.array
        return replace(self.labels, array=array, geometry=self.full)

    def within(self, box: Box) -> LabelMap:
        """The label map on ``box`` (a box holding this one's)."""
        array = np.zeros(tuple(b.stop - b.start for b in box), self.labels.array.dtype)
        inner = tuple(slice(s.start - b.start, s.stop - b.start) for s, b in zip(self.box, box))
        array[inner] = self.labels.array
        return replace(self.labels, array=array, geometry=self.full.cropped(box))


# -- out ---------------------------------------------------------------------------------------
def nrrd_header(geometry: Geometry, dtype: np.dtype, fields: dict[str, str] | None = None
                ) -> bytes:
    """The text header of a raw, little-endian NRRD on ``geometry`` (LPS)."""
    axes = np.array(geometry.direction).reshape(3, 3) * np.array(geometry.spacing)

    def vector(v) -> str:
        return "(" + ",".join(f"{float(x):.17g}" for x in v) + ")"

    lines = ["NRRD0004", f"type: {NRRD_TYPES[np.dtype(dtype).name]}", "dimension: 3",
             "space: left-posterior-superior", "sizes: " + " ".join(map(str, geometry.size)),
             "space directions: " + " ".join(vector(axes[:, j]) for j in range(3)),
             "kinds: domain domain domain", "endian: little", "encoding: raw",
             "space origin: " + vector(geometry.origin)]
    lines += [f"{key}:={value}" for key, value in (fields or {}).items()]
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def write_nrrd_steps(path: str | os.PathLike, geometry: Geometry, dtype,
                     slices: Callable[[int, int], np.ndarray],
                     fields: dict[str, str] | None = None) -> Iterator[None]:
    """Write a raw NRRD whose slices ``k0:k1`` are ``slices(k0, k1)``, yielding after each
    few; the file appears (atomically) once complete. Closing the generator early leaves
    nothing behind."""
    depth = geometry.size[2]
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        out.write(nrrd_header(geometry, dtype, fields))
        for k0 in range(0, depth, SLICES_PER_CHUNK):
            chunk = slices(k0, min(k0 + SLICES_PER_CHUNK, depth))
            np.ascontiguousarray(chunk, dtype=dtype).tofile(out)
            yield


def volume_steps(volume: Volume, path: str | os.PathLike) -> Iterator[None]:
    array = volume.array
    if array.dtype.name not in NRRD_TYPES:
        array = array.astype(np.float32)
    return write_nrrd_steps(path, volume.geometry, array.dtype, lambda k0, k1: array[k0:k1])


def volume_node_steps(volume_node, path: str | os.PathLike) -> Iterator[None]:
    """The node's voxels (read in place, no copy of the whole CT) as a raw NRRD."""
    voxels = slicer.util.arrayFromVolume(volume_node)
    return volume_steps(Volume(voxels, geometry_of_node(volume_node)), path)


def seg_nrrd_steps(placed: Placed, path: str | os.PathLike) -> Iterator[None]:
    """A raw single-layer ``.seg.nrrd`` on the full grid (what scorekit reads)."""
    labels, full = placed.labels, placed.full
    fields = {}
    for i, (value, name) in enumerate(sorted(labels.regions.items())):
        fields.update({f"Segment{i}_ID": f"Segment_{value}", f"Segment{i}_Name": name,
                       f"Segment{i}_Color": " ".join(f"{c:.6f}" for c in labels.color(value)),
                       f"Segment{i}_LabelValue": str(value), f"Segment{i}_Layer": "0"})
    z0, z1 = placed.box[0].start, placed.box[0].stop

    def slices(k0: int, k1: int) -> np.ndarray:
        chunk = np.zeros((k1 - k0, *full.shape[1:]), labels.array.dtype)
        lo, hi = max(k0, z0), min(k1, z1)
        if lo < hi:
            chunk[lo - k0:hi - k0, placed.box[1], placed.box[2]] = labels.array[lo - z0:hi - z0]
        return chunk

    return write_nrrd_steps(path, full, labels.array.dtype, slices, fields)


def placed_segments(segmentation_node, volume_node) -> Placed:
    """Every segment on the volume's voxel grid, values 1..N in segment order (a later
    segment wins where two overlap), cropped to where they are."""
    full = geometry_of_node(volume_node)
    direct = _segments_on_grid(segmentation_node, volume_node, full)
    if direct is not None:
        return direct
    labels = labelmap_from_segmentation_node(segmentation_node, volume_node)
    return Placed(labels, tuple(slice(0, n) for n in full.shape), full)


def _segments_on_grid(segmentation_node, volume_node, full: Geometry) -> Placed | None:
    """The segments' own label maps when they share the volume's grid, else None."""
    if segmentation_node.GetParentTransformNode() is not None:
        return None
    grid = world_ijk_to_ras(volume_node)
    binary = slicer.vtkSegmentationConverter.GetBinaryLabelmapRepresentationName()
    pieces = []
    for segment in segments(segmentation_node).values():
        image = segment.GetRepresentation(binary)
        if image is None:
            return None
        matrix = vtk.vtkMatrix4x4()
        image.GetImageToWorldMatrix(matrix)
        if not np.allclose(slicer.util.arrayFromVTKMatrix(matrix), grid, atol=1e-6):
            return None
        pieces.append((segment, image))
    box = _union_box([image.GetExtent() for _, image in pieces], full.shape)
    names = [s.GetName() for s, _ in pieces]
    array = np.zeros(tuple(b.stop - b.start for b in box), np.uint8 if len(names) < 256
                     else np.uint16)
    for value, (segment, image) in enumerate(pieces, start=1):
        _paint(array, box, image, segment.GetLabelValue(), value)
    labels = LabelMap(array, full.cropped(box), regions=dict(enumerate(names, start=1)),
                      colors={v: tuple(s.GetColor()) for v, (s, _) in
                              enumerate(pieces, start=1)})
    return Placed(labels, box, full)


def _union_box(extents: list[tuple], shape: tuple[int, int, int]) -> Box:
    """The [z, y, x] box holding every (non-empty) VTK extent, inside the grid."""
    full = [e for e in extents if e[0] <= e[1] and e[2] <= e[3] and e[4] <= e[5]]
    if not full:
        return (slice(0, 1), slice(0, 1), slice(0, 1))
    low = [max(0, min(e[2 * a] for e in full)) for a in range(3)]
    high = [min(shape[2 - a], max(e[2 * a + 1] for e in full) + 1) for a in range(3)]
    return tuple(slice(low[a], max(low[a] + 1, high[a])) for a in (2, 1, 0))


def _paint(array: np.ndarray, box: Box, image, label_value: int, value: int) -> None:
    """Where ``image`` (a VTK label map on the same grid) holds ``label_value``, write
    ``value`` into ``array`` (which covers ``box``)."""
    from vtk.util.numpy_support import vtk_to_numpy

    e = image.GetExtent()
    if e[0] > e[1] or image.GetPointData().GetScalars() is None:
        return
    data = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(
        e[5] - e[4] + 1, e[3] - e[2] + 1, e[1] - e[0] + 1)
    start = (e[4], e[2], e[0])
    source, target = [], []
    for axis in range(3):
        lo = max(start[axis], box[axis].start)
        hi = min(start[axis] + data.shape[axis], box[axis].stop)
        if lo >= hi:
            return
        source.append(slice(lo - start[axis], hi - start[axis]))
        target.append(slice(lo - box[axis].start, hi - box[axis].start))
    inside = data[tuple(source)] == label_value
    array[tuple(target)][inside] = value


# -- back --------------------------------------------------------------------------------------
def occupied_box(array: np.ndarray) -> Box | None:
    """The smallest [z, y, x] box holding every non-zero voxel (None when there is none)."""
    box = []
    for axis in range(3):
        present = np.flatnonzero(array.any(axis=tuple(a for a in range(3) if a != axis)))
        if present.size == 0:
            return None
        box.append(slice(int(present[0]), int(present[-1]) + 1))
    return tuple(box)


def union(a: Box, b: Box | None) -> Box:
    if b is None:
        return a
    return tuple(slice(min(x.start, y.start), max(x.stop, y.stop)) for x, y in zip(a, b))


def place(labels: LabelMap, box: Box) -> Placed:
    """A full-grid label map cropped to ``box``."""
    return Placed(replace(labels, array=labels.array[box], geometry=labels.geometry.cropped(box)),
                  box, labels.geometry)
