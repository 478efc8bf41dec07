"""Volumes that carry their geometry, and reading / writing them.

Conventions (the same as SimpleITK and the files on disk):

* ``Volume.array`` is indexed ``[z, y, x]`` (slowest axis first);
* ``Geometry.spacing`` and ``Geometry.origin`` are in ``(x, y, z)`` order, millimetres, in
  the patient LPS frame; ``Geometry.direction`` is the 3×3 row-major direction matrix.

``Geometry.spacing_zyx`` gives the spacing in array-axis order for distance computations.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from scorekit.data.atomic import atomic_path
from scorekit.data.nifti import check_nifti, orthonormalised, write_with_affine
from scorekit.errors import ScoreKitError, warn
from scorekit.registry import VOLUME_SUFFIXES

# ITK's warnings go to stderr beside scorekit's one-line errors; the checks here say what
# matters (a missing DICOM slice, a truncated file) as errors instead.
sitk.ProcessObject_SetGlobalWarningDisplay(False)


@dataclass(frozen=True)
class Geometry:
    """A 3D image grid in physical space (ITK conventions, LPS, millimetres)."""

    size: tuple[int, int, int]  # (x, y, z) voxels
    spacing: tuple[float, float, float]  # (x, y, z) mm
    origin: tuple[float, float, float]  # centre of voxel 0, LPS mm
    direction: tuple[float, ...]  # 3×3 row-major

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape ``(z, y, x)``."""
        return self.size[::-1]

    @property
    def spacing_zyx(self) -> tuple[float, float, float]:
        return self.spacing[::-1]

    @property
    def voxel_volume_ml(self) -> float:
        return math.prod(self.spacing) / 1000.0

    def matches(self, other: Geometry, tol: float = 1e-4) -> bool:
        """True when both grids sample the same physical points."""
        return self.size == other.size and all(
            np.allclose(a, b, atol=tol)
            for a, b in ((self.spacing, other.spacing), (self.origin, other.origin),
                         (self.direction, other.direction)))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned physical bounding box ``(low, high)`` of the voxel centres."""
        corners = np.array([[i, j, k] for i in (0, self.size[0] - 1)
                            for j in (0, self.size[1] - 1) for k in (0, self.size[2] - 1)])
        matrix = self._matrix()
        points = corners @ matrix.T + np.array(self.origin)
        half = np.abs(matrix).sum(axis=1) / 2  # extend to the voxel faces
        return points.min(axis=0) - half, points.max(axis=0) + half

    def overlaps(self, other: Geometry) -> bool:
        low_a, high_a = self.bounds()
        low_b, high_b = other.bounds()
        return bool(np.all(low_a < high_b) and np.all(low_b < high_a))

    def cropped(self, box: tuple[slice, slice, slice]) -> Geometry:
        """The grid of ``array[box]`` (``box`` in ``[z, y, x]``, steps of 1), at the same
        physical place."""
        start = np.array([box[2].start, box[1].start, box[0].start], float)
        size = tuple(b.stop - b.start for b in box[::-1])
        origin = np.array(self.origin) + self._matrix() @ start
        return Geometry(size, self.spacing, tuple(float(o) for o in origin), self.direction)

    def isotropic(self, spacing_mm: float) -> Geometry:
        """A grid of ``spacing_mm`` voxels, same direction, covering the same physical box
        (voxel faces to voxel faces); its first voxel shares this grid's first corner."""
        extent = np.array(self.size) * np.array(self.spacing)
        size = tuple(max(int(np.ceil(e / spacing_mm - 1e-6)), 1) for e in extent)
        corner = np.array(self.origin) - self._matrix() @ np.full(3, 0.5)
        direction = np.array(self.direction).reshape(3, 3)
        origin = corner + direction @ np.full(3, spacing_mm / 2)
        return Geometry(size, (spacing_mm,) * 3, tuple(float(o) for o in origin),
                        self.direction)

    def _matrix(self) -> np.ndarray:
        """Index (x, y, z) → physical offset."""
        return np.array(self.direction).reshape(3, 3) * np.array(self.spacing)

    @classmethod
    def of(cls, image: sitk.Image) -> Geometry:
        return cls(tuple(image.GetSize()), tuple(image.GetSpacing()), tuple(image.GetOrigin()),
                   tuple(image.GetDirection()))

    def apply_to(self, image: sitk.Image) -> sitk.Image:
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(self.direction)
        return image


@dataclass(frozen=True)
class Volume:
    """A 3D array with the geometry it was sampled on."""

    array: np.ndarray  # [z, y, x]
    geometry: Geometry

    def __post_init__(self):
        if self.array.shape != self.geometry.shape:
            raise ValueError(f"array shape {self.array.shape} does not match geometry "
                             f"shape {self.geometry.shape}")

    def with_array(self, array: np.ndarray) -> Volume:
        """The same grid holding other values."""
        return replace(self, array=array)

    def to_sitk(self) -> sitk.Image:
        return self.geometry.apply_to(sitk.GetImageFromArray(self.array))

    @classmethod
    def from_sitk(cls, image: sitk.Image) -> Volume:
        return cls(sitk.GetArrayFromImage(image), Geometry.of(image))


def read_image(path: str | os.PathLike) -> sitk.Image:
    """Read an image file or a DICOM series folder; refuse anything unreadable clearly."""
    path = Path(path)
    if not path.exists():
        raise ScoreKitError(f"{path}: no such file or folder")
    nifti = path.is_file() and path.name.endswith((".nii", ".nii.gz"))
    if nifti:
        check_nifti(path)  # ITK zero-fills truncated files and zeroes NaN / Inf
    try:
        if path.is_dir():
            return _read_dicom_series(path)
        return sitk.ReadImage(str(path))
    except RuntimeError as exc:  # ITK's reader errors are multi-line; keep the gist
        if nifti and "orthonormal" in str(exc):
            return _read_nearly_orthonormal(path)
        raise ScoreKitError(f"{path}: cannot be read as an image ({_itk_reason(exc)})") from None


def read_geometry(path: str | os.PathLike) -> Geometry:
    """A 3D volume file's grid from its header alone (the voxels are not read); anything
    else, such as another format's bytes under a volume's name, is refused naming it."""
    path = Path(path)
    if not path.is_file():
        return Geometry.of(read_image(path))  # a DICOM folder, or the error for a missing file
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        if "orthonormal" in str(exc):
            return Geometry.of(read_image(path))
        raise ScoreKitError(f"{path}: cannot be read as an image ({_itk_reason(exc)})") from None
    if reader.GetDimension() != 3:
        size = "×".join(map(str, reader.GetSize()))
        raise ScoreKitError(f"{path}: is a {reader.GetDimension()}D image (size {size}); a 3D "
                            "volume is needed")
    return Geometry(tuple(reader.GetSize()), tuple(reader.GetSpacing()),
                    tuple(reader.GetOrigin()), tuple(reader.GetDirection()))


def _read_nearly_orthonormal(path: Path) -> sitk.Image:
    """A NIfTI whose sform ITK refuses as not orthonormal, on the nearest orthonormal grid
    (see :func:`scorekit.data.nifti.orthonormalised`), with one warning saying how near."""
    grid = orthonormalised(path)
    with tempfile.TemporaryDirectory(prefix="scorekit-") as folder:
        copy = Path(folder) / "orthonormal.nii"
        write_with_affine(path, copy, grid)
        image = sitk.ReadImage(str(copy))
    image.SetSpacing(grid.spacing)  # exact, not the header's float32 rounding
    image.SetDirection(grid.direction)
    image.SetOrigin(grid.origin)
    warn(f"{path}: direction cosines are not orthonormal (largest |DᵀD − I| entry "
         f"{grid.deviation:.1e}); read on the nearest orthonormal grid, voxel centres moved "
         f"by up to {grid.shift_mm:.2f} mm")
    return image


def _read_dicom_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    series = reader.GetGDCMSeriesIDs(str(folder))
    if not series:
        raise ScoreKitError(f"{folder}: folder holds no DICOM series")
    # Several series in one folder: take the one with the most slices.
    files = max((reader.GetGDCMSeriesFileNames(str(folder), s) for s in series), key=len)
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()
    image = reader.Execute()
    check_slice_spacing(folder, [reader.GetMetaData(i, "0020|0032") for i in range(len(files))
                                 if reader.HasMetaDataKey(i, "0020|0032")], image)
    return image


def check_slice_spacing(folder: Path, positions: list[str], image: sitk.Image) -> None:
    """ITK averages the spacing of a series with a missing or duplicated slice: refuse
    positions along the slice normal that are not evenly spaced, naming the gap."""
    if len(positions) < 3:
        return
    normal = np.array(image.GetDirection()).reshape(3, 3)[:, 2]
    along = np.sort([float(np.dot(normal, [float(v) for v in p.split("\\")]))
                     for p in positions])
    steps = np.diff(along)
    typical = float(np.median(steps))
    uneven = np.flatnonzero(np.abs(steps - typical) > max(0.1 * typical, 0.01))
    if uneven.size:
        k = int(uneven[0])
        raise ScoreKitError(f"{folder}: slices are not evenly spaced: {steps[k]:.2f} mm between "
                            f"slices {k + 1} and {k + 2} of {len(along)} (elsewhere "
                            f"{typical:.2f} mm); a slice is missing or repeated")


def _itk_reason(exc: RuntimeError) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for line in lines:
        if "Description:" in line:
            return line.split("Description:", 1)[1].strip()
    return lines[-1] if lines else "unknown error"


def read_volume(path: str | os.PathLike, allow_single_slice: bool = False) -> Volume:
    """Read a 3D scalar volume (NIfTI, NRRD, MHA or a DICOM series folder).

    Raises :class:`ScoreKitError` for 2D images (unless ``allow_single_slice``: then they
    become one-slice volumes), multi-component images and NaN or infinite values.
    """
    image = read_image(path)
    if allow_single_slice and image.GetDimension() == 2:
        image = sitk.JoinSeries(image)
    minimum_slices = 1 if allow_single_slice else 2
    if image.GetDimension() != 3 or image.GetSize()[2] < minimum_slices:
        size = "×".join(map(str, image.GetSize()))
        raise ScoreKitError(f"{path}: is a 2D image (size {size}); a 3D volume is needed")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ScoreKitError(f"{path}: has {image.GetNumberOfComponentsPerPixel()} components "
                            "per voxel; a scalar volume is needed")
    volume = Volume.from_sitk(image)
    if volume.array.dtype.kind == "f" and not np.isfinite(volume.array).all():
        bad = int(volume.array.size - np.count_nonzero(np.isfinite(volume.array)))
        raise ScoreKitError(f"{path}: contains {bad} NaN or infinite voxel value(s)")
    return volume


def write_volume(volume: Volume, path: str | os.PathLike) -> Path:
    """Write ``volume`` atomically; the format follows the file name."""
    path = Path(path)
    check_output_format(path)
    with atomic_path(path) as tmp:
        write_image(volume, tmp)
    return path


def check_output_format(path: Path) -> None:
    if not str(path).endswith(VOLUME_SUFFIXES):
        raise ScoreKitError(f"{path}: unsupported output format; use one of "
                            + ", ".join(VOLUME_SUFFIXES))


def write_image(volume: Volume, path: Path) -> None:
    """Write ``volume`` to ``path`` as it is (no atomic rename; see ``write_volume``)."""
    sitk.WriteImage(volume.to_sitk(), str(path), useCompression=True)


def resample(volume: Volume, reference: Geometry, *, nearest: bool,
             default: float = 0) -> Volume:
    """Resample ``volume`` onto ``reference`` in physical space.

    ``nearest=True`` for label maps (values are never blended); linear otherwise. Raises
    :class:`ScoreKitError` when the two grids do not overlap physically.
    """
    if not volume.geometry.overlaps(reference):
        raise ScoreKitError("the volume and the reference image do not overlap in physical "
                            "space (check origin and direction)")
    if volume.geometry.matches(reference):
        return volume
    interpolator = sitk.sitkNearestNeighbor if nearest else sitk.sitkLinear
    target = reference.apply_to(sitk.Image(list(reference.size), sitk.sitkUInt8))
    moved = sitk.Resample(volume.to_sitk(), target, sitk.Transform(), interpolator, default)
    return Volume(sitk.GetArrayFromImage(moved).astype(volume.array.dtype, copy=False),
                  reference)
