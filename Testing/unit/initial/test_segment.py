"""segment(): inputs the engines refuse."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from scorekit.cli import main
from scorekit.data.volume import Geometry, Volume, write_volume

pytest.importorskip("totalsegmentator", reason="TotalSegmentator is an optional extra")


def test_non_ct_intensities_and_2d_images_are_refused(tmp_path, capsys):
    geometry = Geometry((16, 16, 8), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0),
                        (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))
    mri_like = Volume(np.random.default_rng(0).integers(0, 255, (8, 16, 16)).astype(np.int16),
                      geometry)
    write_volume(mri_like, tmp_path / "mr.nii.gz")
    sitk.WriteImage(sitk.Image(16, 16, sitk.sitkInt16), str(tmp_path / "flat.nii.gz"))
    for name, reason in (("mr.nii.gz", "do not look like CT"), ("flat.nii.gz", "2D")):
        code = main(["segment", "--image", str(tmp_path / name), "--out",
                     str(tmp_path / "o.seg.nrrd"), "--engine", "threshold"])
        err = capsys.readouterr().err
        assert code == 2 and reason in err and name in err
    assert not (tmp_path / "o.seg.nrrd").exists()
