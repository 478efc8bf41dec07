"""Volumes with their geometry: DICOM series, physical-space resampling, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from support import volume as _volume

from scorekit.data.labelmap import LabelMap
from scorekit.data.labels import resample_labelmap
from scorekit.data.volume import Geometry, read_volume, resample, write_volume
from scorekit.errors import ScoreKitError


def test_dicom_series_reads_with_its_grid(humerus_data):
    ct = read_volume(humerus_data / "dicom")
    assert ct.array.shape == (20, 512, 512)
    assert ct.geometry.spacing == pytest.approx((0.977, 0.977, 2.0), abs=1e-3)



def test_resampling_is_done_in_physical_space_not_by_index():
    volume = _volume(shape=(1 + 3, 4, 4), spacing=(1.0, 1.0, 1.0))
    # A grid shifted by exactly one voxel in x sees the neighbouring values.
    shifted = Geometry((3, 4, 4), (1.0, 1.0, 1.0), (1.0, 0.0, 0.0), volume.geometry.direction)
    moved = resample(volume, shifted, nearest=True)
    assert np.array_equal(moved.array, volume.array[:, :, 1:])



def test_volumes_that_do_not_overlap_are_refused():
    volume = _volume()
    far = Geometry((6, 5, 4), (1.0, 1.0, 1.0), (500.0, 0.0, 0.0), volume.geometry.direction)
    with pytest.raises(ScoreKitError, match="overlap"):
        resample(volume, far, nearest=True)



def test_a_failed_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    target = tmp_path / "v.nii.gz"
    volume = _volume()
    write_volume(volume, target)
    before = target.read_bytes()

    def broken_writer(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(sitk, "WriteImage", broken_writer)
    with pytest.raises(RuntimeError):
        write_volume(volume.with_array(volume.array * 2), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["v.nii.gz"]


def test_a_cropped_grid_stays_at_the_same_physical_place():
    geometry = Geometry((20, 16, 12), (0.8, 0.9, 2.5), (-10.0, 40.0, -300.0),
                        (1.0, 0, 0, 0, 0.8, -0.6, 0, 0.6, 0.8))
    array = np.zeros(geometry.shape, np.uint8)
    array[4:7, 5:9, 6:12] = 1
    box = (slice(3, 9), slice(2, 12), slice(5, 15))
    part = LabelMap(array[box], geometry.cropped(box), regions={1: "x"})
    back = resample_labelmap(part, geometry)
    assert np.array_equal(back.array, array)
