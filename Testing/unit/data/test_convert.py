"""describe / convert (scorekit info, convert): onto a reference grid, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from support import volume as _volume

from scorekit.cli import main
from scorekit.data.convert import convert, describe
from scorekit.data.labelmap import LabelMap
from scorekit.data.labels import read_labelmap, write_labelmap
from scorekit.data.volume import Geometry, read_volume, write_volume
from scorekit.initial.totalseg import class_map_names


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
