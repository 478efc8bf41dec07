"""Label maps: names from sidecars and class maps, round trips, empty maps refused."""

from __future__ import annotations

import numpy as np
import pytest
from support import volume as _volume

from scorekit.data.labelmap import LabelMap
from scorekit.data.labels import read_labelmap, write_labelmap
from scorekit.data.volume import read_volume, write_volume
from scorekit.errors import ScoreKitError
from scorekit.initial.totalseg import class_map_names


def test_totalsegmentator_prediction_has_another_direction_than_the_ct(humerus_data):
    ct = read_volume(humerus_data / "dicom")
    seg = read_labelmap(humerus_data / "example_seg_dicom.nii.gz", names=class_map_names("total"))
    assert not np.allclose(ct.geometry.direction, seg.geometry.direction)
    assert {"humerus_left", "humerus_right"} <= set(seg.names)



def test_labelmap_round_trips_through_nifti_and_sidecar(tmp_path):
    base = _volume()
    labels = LabelMap((base.array % 3).astype(np.uint8), base.geometry,
                      regions={1: "humerus_left", 2: "humerus_right"})
    write_labelmap(labels, tmp_path / "l.nii.gz")
    back = read_labelmap(tmp_path / "l.nii.gz")
    assert back.regions == labels.regions
    assert np.array_equal(back.array, labels.array)
    assert back.geometry.matches(labels.geometry)



def test_empty_label_map_is_refused(tmp_path, capsys):
    base = _volume()
    write_volume(base.with_array(np.zeros(base.array.shape, np.uint8)), tmp_path / "e.nii.gz")
    (tmp_path / "e.json").write_text('{"1": "liver"}')
    with pytest.raises(ScoreKitError, match="empty"):
        read_labelmap(tmp_path / "e.nii.gz")


def test_a_label_value_beyond_16_bits_keeps_its_value(tmp_path):
    from support import volume

    from scorekit.data.labels import read_labelmap
    from scorekit.data.volume import Volume, write_volume

    grid = volume().geometry
    array = np.zeros(grid.shape, np.uint32)
    array[1, 1, 1], array[2, 2, 2] = 65537, 1
    write_volume(Volume(array, grid), tmp_path / "big.nii.gz")
    labels = read_labelmap(tmp_path / "big.nii.gz", {65537: "far", 1: "near"})
    assert labels.regions == {1: "near", 65537: "far"}
    assert labels.mask("far").sum() == 1 and labels.mask("near").sum() == 1


def test_a_ct_with_a_bids_sidecar_or_a_folder_named_like_one_is_read_as_a_ct(tmp_path):
    import json

    from support import volume

    from scorekit.data.labels import is_labelmap_path, read_any
    from scorekit.data.volume import Volume, write_volume

    ct = volume(shape=(6, 8, 10))
    ct = Volume(ct.array * 10 - 1000, ct.geometry)
    write_volume(ct, tmp_path / "sub-01_ct.nii.gz")
    (tmp_path / "sub-01_ct.json").write_text(json.dumps({"Modality": "CT", "KVP": 120}))
    write_volume(ct, tmp_path / "other.nii.gz")
    (tmp_path / "other.json").mkdir()
    for name in ("sub-01_ct.nii.gz", "other.nii.gz"):
        assert not is_labelmap_path(tmp_path / name)
        assert isinstance(read_any(tmp_path / name), Volume)


def test_a_label_map_and_its_sidecar_are_written_both_or_neither(tmp_path):
    from support import two_regions

    from scorekit.data.labels import write_labelmap

    (tmp_path / "seg.json").mkdir()  # the sidecar cannot be written
    with pytest.raises(OSError):
        write_labelmap(two_regions(), tmp_path / "seg.nii.gz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seg.json"]  # no image alone


def test_present_values_match_numpy_unique():
    from scorekit.data.labels import present_values

    array = np.random.default_rng(0).integers(0, 300, (40, 9, 7)).astype(np.uint16)
    array[array > 250] = 0
    assert np.array_equal(present_values(array), np.unique(array))
