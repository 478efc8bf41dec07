"""The threshold engine on the real CT and on a phantom."""

from __future__ import annotations

import pytest

from scorekit.data.labels import read_labelmap, resample_labelmap
from scorekit.data.volume import read_volume
from scorekit.initial.threshold import threshold_segment
from scorekit.initial.totalseg import class_map_names
from scorekit.metrics import dice
from scorekit.synth.humerus import humerus_phantom

pytest.importorskip("totalsegmentator", reason="TotalSegmentator is an optional extra")


HUMERI = ["humerus_left", "humerus_right"]



def test_threshold_engine_finds_both_humeri_on_the_real_ct(humerus_data):
    ct = read_volume(humerus_data / "dicom")
    ours = threshold_segment(ct, HUMERI)
    theirs = resample_labelmap(read_labelmap(humerus_data / "example_seg_dicom.nii.gz",
                                             names=class_map_names("total")), ct.geometry)
    for name in HUMERI:
        assert dice(ours.mask(name), theirs.mask(name)) >= 0.6, name



def test_threshold_engine_on_a_phantom_tells_left_from_right():
    phantom = humerus_phantom(seed=4)
    seg = threshold_segment(phantom.image, HUMERI)
    for name in HUMERI:
        assert dice(seg.mask(name), phantom.reference.mask(name)) > 0.8, name
