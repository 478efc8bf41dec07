"""Pairing files by name, and the rating progress ``scorekit workspace list`` shows."""

from __future__ import annotations

import pytest

from scorekit.errors import ScoreKitError
from scorekit.workflows.intake import case_files_in, rating_progress


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_images_pair_with_segmentations_by_name_whatever_their_role_words(tmp_path):
    images, segs = tmp_path / "images", tmp_path / "segs"
    touch(images / "sub-verse005_ct.nii.gz")
    touch(images / "case7" / "IM0001")  # a DICOM series folder
    touch(images / "knee_0000.nrrd")
    touch(segs / "sub-verse005_seg-vert_msk.nii.gz")
    touch(segs / "sub-verse005_seg-vert_msk.json")  # a sidecar, not a segmentation
    touch(segs / "case7" / "humerus_left.nii.gz")  # one mask per structure
    touch(segs / "knee.seg.nrrd")
    cases = {c.id: (c.image.name, c.segmentation.name) for c in case_files_in(images, segs)}
    assert cases == {"sub-verse005": ("sub-verse005_ct.nii.gz",
                                      "sub-verse005_seg-vert_msk.nii.gz"),
                     "case7": ("case7", "case7"), "knee": ("knee_0000.nrrd", "knee.seg.nrrd")}


@pytest.mark.parametrize("images, segs, message", [
    (["a_ct.nii.gz", "a.nrrd"], ["a.nii.gz"], "a_ct.nii.gz: gives case id 'a' as a.nrrd"),
    (["a.nii.gz", "b.nii.gz"], ["a_seg.nii.gz"], "b.nii.gz: no segmentation named after it"),
    (["a.nii.gz"], ["a_seg.nii.gz", "a_mask.nrrd"], "a_seg.nii.gz: pairs with the same image"),
])
def test_ambiguous_or_missing_pairs_are_refused_by_file(images, segs, message, tmp_path):
    for name in images:
        touch(tmp_path / "images" / name)
    for name in segs:
        touch(tmp_path / "segs" / name)
    with pytest.raises(ScoreKitError) as error:
        case_files_in(tmp_path / "images", tmp_path / "segs")
    assert message.split(": ")[1] in str(error.value)
    assert message.split(": ")[0] in str(error.value)


def test_rating_progress_counts_each_raters_regions_per_case(small_phantom_workspace):
    ws = small_phantom_workspace
    rows = rating_progress(ws)
    assert [row["case"] for row in rows] == ws.case_ids()
    for row in rows:
        rated = {r.rater for r in ws.ratings.all(row["case"])}
        assert set(row["rated"]) >= rated
        assert all(0 <= n <= len(row["regions"]) for n in row["rated"].values())
    assert any(n == len(row["regions"]) for row in rows for n in row["rated"].values())
