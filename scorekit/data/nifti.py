"""What ITK's NIfTI reader lets through, checked before it reads the file.

ITK fills the missing part of a truncated ``.nii`` / ``.nii.gz`` with zeros, reads a header
that claims a huge size over a tiny file the same way, and turns NaN and ±Inf voxels into
0. So the header is read here (NIfTI-1 or NIfTI-2, either byte order), the data's length is
compared with what the header promises, and floating-point data is scanned for non-finite
values, in chunks (a ``.nii.gz`` is decompressed as a stream, once).

ITK also refuses a file whose sform is not exactly orthonormal, which real scans often are
(rounding in the converter that wrote them). :func:`orthonormalised` gives the nearest
orthonormal grid instead, within :data:`ORTHONORMAL_TOLERANCE`, and
:func:`write_with_affine` a copy of the file that states it.
"""

from __future__ import annotations

import gzip
import shutil
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scorekit.errors import ScoreKitError

CHUNK = 1 << 24  # bytes per read
FLOAT_TYPES = {16: "f4", 64: "f8"}  # NIfTI datatype codes of float32 and float64
# Largest |DᵀD − I| entry (D: the sform's voxel axes as unit vectors; an entry is the cosine
# of the angle between two axes) read as rounding and orthonormalised; beyond it the grid is
# sheared (a tilted gantry, say) and needs resampling, not reading: 0.01 ≈ 0.6° off square.
ORTHONORMAL_TOLERANCE = 0.01
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


@dataclass(frozen=True)
class Header:
    byteorder: str  # "<" or ">"
    datatype: int
    bitpix: int
    shape: tuple[int, ...]
    vox_offset: int
    version: int = 1  # NIfTI-1 or NIfTI-2

    @property
    def sform_layout(self) -> tuple[int, int, str]:
        """(offset of sform_code, offset of srow_x, value type) in this version's header."""
        return (254, 280, "h") if self.version == 1 else (348, 400, "i")

    @property
    def data_bytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.bitpix // 8


def parse_header(raw: bytes, path: Path) -> Header:
    """NIfTI-1 (348-byte) or NIfTI-2 (540-byte) header fields that fix the data's size."""
    for order in "<>":
        header_size = struct.unpack(order + "i", raw[:4])[0] if len(raw) >= 4 else 0
        if header_size == 348 and len(raw) >= 348:
            datatype, bitpix = struct.unpack(order + "hh", raw[70:74])
            dims = struct.unpack(order + "8h", raw[40:56])
            offset = int(struct.unpack(order + "f", raw[108:112])[0])
            break
        if header_size == 540 and len(raw) >= 540:
            datatype, bitpix = struct.unpack(order + "hh", raw[12:16])
            dims = struct.unpack(order + "8q", raw[16:80])
            offset = struct.unpack(order + "q", raw[168:176])[0]
            break
    else:
        raise ScoreKitError(f"{path}: not a NIfTI file (no NIfTI-1 or NIfTI-2 header)")
    ndim = dims[0]
    if not 1 <= ndim <= 7 or any(d < 1 for d in dims[1:ndim + 1]) or bitpix <= 0:
        raise ScoreKitError(f"{path}: NIfTI header is corrupt (dimensions {dims[:ndim + 1]}, "
                            f"{bitpix} bits per voxel)")
    return Header(order, datatype, bitpix, tuple(dims[1:ndim + 1]),
                  max(offset, header_size), 1 if header_size == 348 else 2)


def _opener(path: Path):
    return gzip.open if path.name.endswith(".gz") else open


def check_nifti(path: str | Path) -> None:
    """Refuse a truncated file, a header larger than its data, and non-finite voxels."""
    path = Path(path)
    try:
        with _opener(path)(path, "rb") as stream:
            header = parse_header(stream.read(540), path)
            stream.seek(header.vox_offset)
            seen = _scan(stream, header, path)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ScoreKitError(f"{path}: compressed data is cut short or damaged "
                            f"({type(error).__name__})") from None
    if seen < header.data_bytes:
        raise ScoreKitError(f"{path}: truncated: the header promises {header.data_bytes} bytes "
                            f"of voxels ({'×'.join(map(str, header.shape))}), the file holds "
                            f"{seen}")


def _scan(stream, header: Header, path: Path) -> int:
    """Bytes of voxel data present (up to what the header promises); non-finite refused."""
    kind = FLOAT_TYPES.get(header.datatype)
    itemsize = header.bitpix // 8
    seen, bad, carry = 0, 0, b""
    while seen < header.data_bytes:
        block = stream.read(min(CHUNK, header.data_bytes - seen))
        if not block:
            break
        seen += len(block)
        if kind is not None:
            block = carry + block
            usable = len(block) - len(block) % itemsize
            values = np.frombuffer(block[:usable], dtype=header.byteorder + kind)
            bad += int(values.size - np.count_nonzero(np.isfinite(values)))
            carry = block[usable:]
    if bad:
        raise ScoreKitError(f"{path}: contains {bad} NaN or infinite voxel value(s)")
    return seen


@dataclass(frozen=True)
class OrthonormalGrid:
    """The nearest orthonormal grid to a NIfTI file's sform, in ITK's LPS terms."""

    spacing: tuple[float, float, float]  # the sform's column lengths, mm
    direction: tuple[float, ...]  # 3×3 row-major, orthonormal
    origin: tuple[float, float, float]  # voxel 0 stays where the file puts it
    deviation: float  # largest |DᵀD − I| entry of the file's direction
    shift_mm: float  # how far the farthest voxel centre moves

    def sform(self) -> np.ndarray:
        """The 3×4 RAS matrix that states this grid in a NIfTI header."""
        matrix = RAS_TO_LPS @ np.reshape(self.direction, (3, 3)) * np.array(self.spacing)
        return np.column_stack([matrix, RAS_TO_LPS @ np.array(self.origin)])


def read_sform(path: Path) -> tuple[Header, np.ndarray | None]:
    """The header and its sform (3×4, RAS), or None when the file states none."""
    with _opener(path)(path, "rb") as stream:
        raw = stream.read(540)
    header = parse_header(raw, path)
    code_at, rows_at, kind = header.sform_layout
    (code,) = struct.unpack_from(header.byteorder + kind, raw, code_at)
    if code <= 0:
        return header, None
    value = "f" if header.version == 1 else "d"
    rows = struct.unpack_from(header.byteorder + "12" + value, raw, rows_at)
    return header, np.array(rows, dtype=float).reshape(3, 4)


def orthonormalised(path: str | Path) -> OrthonormalGrid:
    """The nearest orthonormal grid to ``path``'s sform (polar decomposition of its
    direction, column lengths kept as spacing); refused beyond the tolerance."""
    path = Path(path)
    header, sform = read_sform(path)
    if sform is None:
        raise ScoreKitError(f"{path}: NIfTI header states no usable orientation (its qform "
                            "and sform are both missing or invalid)")
    matrix, offset = sform[:, :3], sform[:, 3]
    spacing = np.linalg.norm(matrix, axis=0)
    if not np.all(spacing > 0):
        raise ScoreKitError(f"{path}: NIfTI sform has a zero-length voxel axis")
    axes = matrix / spacing
    deviation = float(np.abs(axes.T @ axes - np.eye(3)).max())
    if deviation > ORTHONORMAL_TOLERANCE:
        raise ScoreKitError(
            f"{path}: voxel axes are {_degrees_off_square(axes):.1f}° off perpendicular "
            f"(|DᵀD − I| up to {deviation:.3f}, tolerance {ORTHONORMAL_TOLERANCE}): a "
            "sheared grid; resample it onto an orthonormal one first")
    u, _, vt = np.linalg.svd(axes)
    rotation = u @ vt
    far = np.array(header.shape[:3] + (1,) * (3 - len(header.shape)), float) - 1
    corners = np.array(np.meshgrid(*[[0, f] for f in far])).reshape(3, -1)
    shift = np.linalg.norm((matrix - rotation * spacing) @ corners, axis=0).max()
    return OrthonormalGrid(tuple(float(s) for s in spacing),
                           tuple(float(v) for v in (RAS_TO_LPS @ rotation).ravel()),
                           tuple(float(v) for v in RAS_TO_LPS @ offset), deviation, float(shift))


def _degrees_off_square(axes: np.ndarray) -> float:
    cosines = np.abs(axes.T @ axes)[np.triu_indices(3, 1)]
    return float(np.degrees(np.arcsin(np.clip(cosines.max(), 0, 1))))


def write_with_affine(path: str | Path, target: Path, grid: OrthonormalGrid) -> None:
    """Copy ``path`` uncompressed to ``target`` (a ``.nii``) with ``grid`` as its sform and
    voxel size; the voxels are copied byte for byte."""
    path = Path(path)
    with _opener(path)(path, "rb") as source:
        header = parse_header(source.read(540), path)
        source.seek(0)
        head = bytearray(source.read(header.vox_offset))
        _, rows_at, _ = header.sform_layout
        value = "f" if header.version == 1 else "d"
        pixdim_1 = (76 if header.version == 1 else 104) + struct.calcsize(value)
        struct.pack_into(header.byteorder + "12" + value, head, rows_at, *grid.sform().ravel())
        struct.pack_into(header.byteorder + "3" + value, head, pixdim_1, *grid.spacing)
        with open(target, "wb") as out:
            out.write(head)
            shutil.copyfileobj(source, out, CHUNK)
