"""Reading volumes with their geometry, resampling in physical space, converting files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from scorekit.cli import main
from scorekit.data.convert import convert, describe
from scorekit.data.labelmap import LabelMap
from scorekit.data.labels import read_labelmap, write_labelmap
from scorekit.data.volume import Geometry, Volume, read_volume, resample, write_volume
from scorekit.errors import ScoreKitError
from scorekit.initial.totalseg import class_map_names


def test_dicom_series_reads_with_its_grid(humerus_data):
    ct = read_volume(humerus_data / "dicom")
    assert ct.array.shape == (20, 512, 512)
    assert ct.geometry.spacing == pytest.approx((0.977, 0.977, 2.0), abs=1e-3)


def test_totalsegmentator_prediction_has_another_direction_than_the_ct(humerus_data):
    ct = read_volume(humerus_data / "dicom")
    seg = read_labelmap(humerus_data / "example_seg_dicom.nii.gz", names=class_map_names("total"))
    assert not np.allclose(ct.geometry.direction, seg.geometry.direction)
    assert {"humerus_left", "humerus_right"} <= set(seg.names)


def test_convert_onto_the_ct_grid_puts_the_humeri_on_bone(humerus_data, tmp_path):
    out = convert(humerus_data / "example_seg_dicom.nii.gz", tmp_path / "seg.seg.nrrd",
                  reference=humerus_data / "dicom", names=class_map_names("total"))
    seg = read_labelmap(out)
    ct = read_volume(humerus_data / "dicom")
    assert seg.geometry.matches(ct.geometry)
    for name in ("humerus_left", "humerus_right"):
        assert ct.array[seg.mask(name)].mean() > 300, name
    # The raw array (ignoring geometry) would have put the bones on air and soft tissue.
    raw = sitk.GetArrayFromImage(sitk.ReadImage(str(humerus_data / "example_seg_dicom.nii.gz")))
    assert ct.array[raw == 69].mean() < 300


def test_converted_humeri_agree_with_the_independently_derived_mask(humerus_data, tmp_path):
    out = convert(humerus_data / "example_seg_dicom.nii.gz", tmp_path / "seg.nii.gz",
                  reference=humerus_data / "dicom", names=class_map_names("total"))
    ours = read_labelmap(out)
    theirs = sitk.GetArrayFromImage(sitk.ReadImage(str(humerus_data /
                                                       "derived_humerus_mask.nii.gz")))
    assert np.array_equal(ours.mask("humerus_left"), theirs == 1)
    assert np.array_equal(ours.mask("humerus_right"), theirs == 2)
    assert json.loads((tmp_path / "seg.json").read_text())["69"] == "humerus_left"


def _volume(shape=(4, 5, 6), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0)):
    geometry = Geometry(shape[::-1], spacing, origin, (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))
    return Volume(np.arange(np.prod(shape), dtype=np.int16).reshape(shape), geometry)


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


def test_labelmap_round_trips_through_nifti_and_sidecar(tmp_path):
    base = _volume()
    labels = LabelMap((base.array % 3).astype(np.uint8), base.geometry,
                      regions={1: "humerus_left", 2: "humerus_right"})
    write_labelmap(labels, tmp_path / "l.nii.gz")
    back = read_labelmap(tmp_path / "l.nii.gz")
    assert back.regions == labels.regions
    assert np.array_equal(back.array, labels.array)
    assert back.geometry.matches(labels.geometry)


def test_info_reports_regions_with_volumes_in_ml(tmp_path):
    base = _volume(spacing=(2.0, 2.0, 2.5))
    array = np.zeros(base.array.shape, np.uint8)
    array[0, 0, :4] = 3
    write_labelmap(LabelMap(array, base.geometry, regions={3: "liver"}), tmp_path / "x.nrrd")
    info = describe(tmp_path / "x.nrrd")
    assert info["kind"] == "labelmap"
    assert info["regions"] == [{"value": 3, "name": "liver", "voxels": 4, "volume_ml": 0.04}]


def _run(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("problem", ["missing", "unreadable", "2d", "nan"])
def test_bad_inputs_fail_with_one_line_and_exit_2_writing_nothing(problem, tmp_path, capsys):
    path = tmp_path / "in.nii.gz"
    if problem == "unreadable":
        path = tmp_path / "notes.txt"
        path.write_text("not an image")
    elif problem == "2d":
        sitk.WriteImage(sitk.Image(8, 8, sitk.sitkInt16), str(path))
    elif problem == "nan":  # (the NIfTI writer would turn NaN into 0)
        path = tmp_path / "in.mha"
        array = np.zeros((3, 4, 4), np.float32)
        array[1, 1, 1] = np.nan
        sitk.WriteImage(sitk.GetImageFromArray(array), str(path))
    code, _, err = _run(capsys, "convert", path, tmp_path / "out.nii.gz")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(path.name) in err
    assert not (tmp_path / "out.nii.gz").exists()


def test_empty_label_map_is_refused(tmp_path, capsys):
    base = _volume()
    write_volume(base.with_array(np.zeros(base.array.shape, np.uint8)), tmp_path / "e.nii.gz")
    (tmp_path / "e.json").write_text('{"1": "liver"}')
    with pytest.raises(ScoreKitError, match="empty"):
        read_labelmap(tmp_path / "e.nii.gz")


def test_label_map_with_no_overlap_with_the_reference_exits_2(tmp_path, capsys):
    image = _volume(shape=(4, 5, 6))
    write_volume(image, tmp_path / "ct.nii.gz")
    far = Geometry((6, 5, 4), (1.0, 1.0, 1.0), (900.0, 0.0, 0.0), image.geometry.direction)
    array = np.ones((4, 5, 6), np.uint8)
    write_labelmap(LabelMap(array, far, regions={1: "liver"}), tmp_path / "seg.nii.gz")
    code, _, err = _run(capsys, "convert", tmp_path / "seg.nii.gz", tmp_path / "o.seg.nrrd",
                        "--reference", tmp_path / "ct.nii.gz")
    assert code == 2 and "no physical overlap" in err and "seg.nii.gz" in err
    assert not (tmp_path / "o.seg.nrrd").exists()


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
