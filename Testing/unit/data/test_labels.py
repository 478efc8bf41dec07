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
