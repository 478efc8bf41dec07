"""Slicer's .seg.nrrd without Slicer: names, colours and geometry survive a round trip."""

from __future__ import annotations

import numpy as np
import pytest
from support import two_regions

from scorekit.data.labels import read_labelmap, write_labelmap


def test_seg_nrrd_round_trip_keeps_names_colours_and_geometry(tmp_path):
    labels = two_regions()
    back = read_labelmap(write_labelmap(labels, tmp_path / "s.seg.nrrd"))
    assert back.regions == labels.regions
    assert {v: pytest.approx(c) for v, c in labels.colors.items()} == back.colors
    assert back.geometry.matches(labels.geometry)
    assert np.array_equal(back.array, labels.array)
