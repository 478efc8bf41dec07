"""What ITK's NIfTI reader would let through is refused, naming the file."""

from __future__ import annotations

import gzip
import shutil
import struct

import numpy as np
import pytest
import SimpleITK as sitk
from support import volume

from scorekit.data.volume import Geometry, Volume, read_volume, write_volume
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


def nifti_with_affine(path, affine):
    """A NIfTI whose only orientation is ``affine`` (RAS, as nibabel states it)."""
    nib = pytest.importorskip("nibabel")
    image = nib.Nifti1Image(np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6), affine)
    image.set_qform(None, code=0)  # ITK would fall back to a qform
    image.set_sform(affine, code=2)
    nib.save(image, path)
    return image


def physical_points(volume_read, shape):
    """RAS positions of the corners of ``shape`` on ``volume_read``'s grid."""
    g = volume_read.geometry
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in shape])).reshape(3, -1)
    lps = np.array(g.origin)[:, None] + (np.reshape(g.direction, (3, 3)) * g.spacing) @ corners
    return np.diag([-1, -1, 1]) @ lps, corners


def test_the_real_ct_with_a_slightly_skewed_affine_reads_on_the_nearest_orthonormal_grid(
        shared_data, capfd):
    nib = pytest.importorskip("nibabel")
    path = shared_data / "ct" / "totalseg-subjects" / "s0002_ct.nii.gz"
    read = read_volume(path)
    warning = capfd.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and "s0002_ct.nii.gz" in warning[0] and "1.9e-04" in warning[0]
    direction = np.reshape(read.geometry.direction, (3, 3))
    assert np.allclose(direction.T @ direction, np.eye(3), atol=1e-12)
    truth = nib.load(path)
    assert np.array_equal(read.array, np.asarray(truth.dataobj).transpose(2, 1, 0))
    ras, corners = physical_points(read, truth.shape)
    expected = truth.affine[:3, :3] @ corners + truth.affine[:3, 3:]
    assert np.abs(ras - expected).max() < 0.05  # mm, far below a voxel


def test_a_nifti_off_orthonormal_within_tolerance_is_read_with_one_warning(tmp_path, capfd):
    affine = np.diag([0.8, 0.8, 2.5, 1.0])
    affine[0, 1] = 0.8 * 0.003  # the y axis leans 0.17° towards x
    affine[:3, 3] = (10, -20, 30)
    image = nifti_with_affine(tmp_path / "ct.nii.gz", affine)
    read = read_volume(tmp_path / "ct.nii.gz")
    assert "ct.nii.gz: direction cosines are not orthonormal" in capfd.readouterr().err
    assert np.array_equal(read.array, np.asarray(image.dataobj).transpose(2, 1, 0))
    assert np.allclose(read.geometry.spacing, [0.8, 0.8, 2.5], atol=1e-5)
    assert read.geometry.origin == pytest.approx((-10, 20, 30))


def test_a_sheared_nifti_beyond_the_tolerance_is_refused(tmp_path):
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    affine[0, 2] = np.tan(np.radians(15))  # a 15° gantry tilt
    nifti_with_affine(tmp_path / "tilted.nii", affine)
    with pytest.raises(ScoreKitError, match=r"tilted\.nii: voxel axes are 15\.0° off "
                                            r"perpendicular.*resample"):
        read_volume(tmp_path / "tilted.nii")


def test_an_orthonormal_nifti_keeps_its_exact_geometry_without_a_warning(tmp_path, capfd):
    written = volume(shape=(4, 5, 6), spacing=(0.7, 0.9, 2.0), origin=(1.5, -2.25, 3.0))
    path = write_volume(written, tmp_path / "ct.nii.gz")
    assert read_volume(path).geometry == Geometry.of(sitk.ReadImage(str(path)))
    assert "warning" not in capfd.readouterr().err
