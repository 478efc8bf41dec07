"""What ITK's NIfTI reader lets through, checked before it reads the file.

ITK fills the missing part of a truncated ``.nii`` / ``.nii.gz`` with zeros, reads a header
that claims a huge size over a tiny file the same way, and turns NaN and ±Inf voxels into
0. So the header is read here (NIfTI-1 or NIfTI-2, either byte order), the data's length is
compared with what the header promises, and floating-point data is scanned for non-finite
values, in chunks (a ``.nii.gz`` is decompressed as a stream, once).
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scorekit.errors import ScoreKitError

CHUNK = 1 << 24  # bytes per read
FLOAT_TYPES = {16: "f4", 64: "f8"}  # NIfTI datatype codes of float32 and float64


@dataclass(frozen=True)
class Header:
    byteorder: str  # "<" or ">"
    datatype: int
    bitpix: int
    shape: tuple[int, ...]
    vox_offset: int

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
                  max(offset, header_size))


def check_nifti(path: str | Path) -> None:
    """Refuse a truncated file, a header larger than its data, and non-finite voxels."""
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as stream:
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
