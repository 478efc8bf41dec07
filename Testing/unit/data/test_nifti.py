"""What ITK's NIfTI reader would let through is refused, naming the file."""

from __future__ import annotations

import gzip
import shutil
import struct

import numpy as np
import pytest
from support import volume

from scorekit.data.volume import Volume, read_volume, write_volume
from scorekit.errors import ScoreKitError


def floats(values) -> Volume:
    grid = volume().geometry
    return Volume(np.asarray(values, dtype=np.float32).reshape(grid.shape), grid)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_a_truncated_nifti_is_refused(tmp_path, suffix):
    path = write_volume(volume(), tmp_path / f"ct{suffix}")
    raw = path.read_bytes() if suffix == ".nii" else gzip.decompress(path.read_bytes())
    cut = raw[:-20]
    path.write_bytes(cut if suffix == ".nii" else gzip.compress(cut))
    with pytest.raises(ScoreKitError, match=r"ct\.nii.*truncated"):
        read_volume(path)


def test_a_cut_compressed_stream_is_refused(tmp_path):
    path = write_volume(volume(shape=(20, 30, 40)), tmp_path / "ct.nii.gz")
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(ScoreKitError, match=r"cut short or damaged|truncated"):
        read_volume(path)


def test_a_header_claiming_a_huge_volume_over_a_tiny_file_is_refused(tmp_path):
    path = write_volume(volume(), tmp_path / "ct.nii")
    raw = bytearray(path.read_bytes())
    raw[40:56] = struct.pack("<8h", 3, 2000, 2000, 200, 1, 1, 1, 1)
    path.write_bytes(bytes(raw))
    with pytest.raises(ScoreKitError, match=r"promises 1600000000 bytes .*2000×2000×200"):
        read_volume(path)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".nrrd", ".mha"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_voxels_are_refused_in_every_format(tmp_path, suffix, bad):
    values = np.arange(120, dtype=np.float32)
    values[17] = bad
    path = write_volume(floats(values), tmp_path / f"ct{suffix}")
    with pytest.raises(ScoreKitError, match=r"1 NaN or infinite voxel"):
        read_volume(path)


def test_a_good_nifti_reads_as_written(tmp_path):
    written = floats(np.linspace(-1000, 2000, 120))
    for suffix in (".nii", ".nii.gz"):
        path = write_volume(written, tmp_path / f"ct{suffix}")
        assert np.allclose(read_volume(path).array, written.array)


def test_a_dicom_series_with_a_missing_slice_is_refused_naming_the_gap(humerus_data,
                                                                       tmp_path):
    files = sorted((humerus_data / "dicom").iterdir())
    for k, file in enumerate(files):
        if k != 7:
            shutil.copy(file, tmp_path / file.name)
    with pytest.raises(ScoreKitError, match=r"4\.00 mm between slices \d+ and \d+ of 19 "
                                            r"\(elsewhere 2\.00 mm\)"):
        read_volume(tmp_path)
    assert read_volume(humerus_data / "dicom").array.shape == (20, 512, 512)
