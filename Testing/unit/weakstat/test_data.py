"""WeakStatSeg datasets: folders, CSVs, patient groups, refused inputs."""

from __future__ import annotations

import numpy as np
import pytest
from support import write_csv as _csv
from support import write_picture as _picture

from scorekit.errors import ScoreKitError
from scorekit.weakstat.data import read_dataset, split_by_group


# -- datasets -----------------------------------------------------------------------------------
def test_the_busbra_folder_pairs_images_with_masks_and_groups_patients(shared_data):
    folder = shared_data / "us" / "busbra"
    samples = read_dataset(folder)
    assert len(samples) == len(list((folder / "Images").glob("*.png")))
    assert len(samples) >= 150
    first = samples[0]
    assert first.name == "bus_0001-l.png" and first.group == "0001"
    assert first.image.dtype == np.float32 and 0 <= first.image.min() <= first.image.max() <= 1
    assert first.mask.shape == first.image.shape and 0 < first.fraction < 1
    train_set, test_set = split_by_group(samples, 0.27, seed=0)
    assert 0.22 * len(samples) <= len(test_set) <= 0.32 * len(samples)
    assert not {s.group for s in train_set} & {s.group for s in test_set}


def test_a_verse_folder_gives_one_axial_cube_per_vertebra_grouped_by_scan(shared_data):
    from scorekit.data.labels import read_labelmap
    from scorekit.data.verse import VERSE_NAMES
    from scorekit.weakstat.data import VERTEBRA_SPACING_MM, fold_splits

    folder = shared_data / "ct" / "verse19"
    samples = read_dataset(folder)
    assert [s.name for s in samples] == [f"sub-verse005-L{i}" for i in range(1, 6)] + [
        "sub-verse006-L4", "sub-verse006-L5"]
    for sample in samples:
        scan = sample.group
        labels = read_labelmap(folder / f"{scan}_seg-vert_msk.nii.gz", names=VERSE_NAMES)
        vertebra = labels.mask(sample.name.rsplit("-", 1)[1])
        source_ml = vertebra.sum() * labels.geometry.voxel_volume_ml
        cube_ml = sample.mask.sum() * VERTEBRA_SPACING_MM ** 3 / 1000
        assert cube_ml == pytest.approx(source_ml, rel=0.03)
        assert sample.fraction == pytest.approx(sample.mask.mean())
        # the cube's axes are the patient's (z, y, x): axis 0 is axial whatever the
        # scan's orientation (PIR here, 3 mm slices in 006)
        g = labels.geometry
        points = np.argwhere(vertebra)[:, ::-1] @ (np.reshape(g.direction, (3, 3))
                                                    * g.spacing).T
        source_extent = np.ptp(points, axis=0)[::-1]
        cube_extent = [np.ptp(i) * VERTEBRA_SPACING_MM for i in np.nonzero(sample.mask)]
        assert cube_extent == pytest.approx(source_extent, abs=max(g.spacing) + 1)
        assert sample.image.min() >= 0 and sample.image.max() <= 1
    for train_set, test_set in fold_splits(samples, 2):
        assert len({s.group for s in test_set}) == 1
        assert not {s.group for s in train_set} & {s.group for s in test_set}


def test_a_ct_folder_gives_one_cube_per_chosen_structure_grouped_by_case(shared_data):
    from scorekit.data.scanfolder import read_scan_case
    from scorekit.weakstat.data import CT_WINDOW_HU, STRUCTURE_MAX_EDGE, intensity_window

    folder = shared_data / "ct" / "totalseg-subjects"
    samples = read_dataset(folder, ["liver", "vertebrae_C3"])
    assert [s.name for s in samples] == ["s0002-vertebrae_C3", "s0003-vertebrae_C3",
                                         "s0009-liver"]
    assert [s.structure for s in samples] == ["vertebrae_C3"] * 2 + ["liver"]
    assert [s.group for s in samples] == ["s0002", "s0003", "s0009"]
    assert intensity_window(folder) == list(CT_WINDOW_HU)
    _, labels = read_scan_case(folder / "s0009_ct.nii.gz", folder / "s0009_seg.nii.gz")
    liver = samples[-1]
    assert max(liver.image.shape) == STRUCTURE_MAX_EDGE  # 1 mm would be about 230 a side
    side_mm = max((np.ptp(i) + 1) * s for i, s in zip(np.nonzero(labels.mask("liver")),
                                                      labels.geometry.spacing_zyx))
    spacing = (side_mm + 20) / STRUCTURE_MAX_EDGE  # 10 mm of margin on each side
    cube_ml = liver.mask.sum() * spacing ** 3 / 1000
    source_ml = labels.mask("liver").sum() * labels.geometry.voxel_volume_ml
    assert cube_ml == pytest.approx(source_ml, rel=0.1)
    assert liver.fraction == pytest.approx(liver.mask.mean())
    every = {s.structure for s in read_dataset(folder)}  # default: named by two cases
    assert "vertebrae_C3" in every and "liver" not in every


def test_structures_a_ct_folder_lacks_or_a_dataset_cannot_choose_are_refused(shared_data):
    with pytest.raises(ScoreKitError, match="totalseg-subjects: no case shows liverr"):
        read_dataset(shared_data / "ct" / "totalseg-subjects", ["liver", "liverr"])
    with pytest.raises(ScoreKitError, match="busbra: structures are chosen by name in a folder"):
        read_dataset(shared_data / "us" / "busbra", ["liver"])


def test_a_verse_scan_without_its_mask_is_named(shared_data, tmp_path):
    ct = shared_data / "ct" / "verse19" / "sub-verse006_ct.nii.gz"
    (tmp_path / ct.name).symlink_to(ct)
    with pytest.raises(ScoreKitError, match=r"sub-verse006_ct\.nii\.gz: no vertebra mask"):
        read_dataset(tmp_path)


def test_a_csv_may_give_only_the_fraction_and_a_painted_weak_mask(tmp_path):
    image = _picture(tmp_path / "a.png", np.full((20, 30, 3), 128, np.uint8))  # RGB
    weak = np.zeros((20, 30), np.uint8)
    weak[8:10, 10:12] = 255
    _picture(tmp_path / "a_weak.png", weak)
    samples = read_dataset(_csv(tmp_path / "d.csv", [
        {"image": image.name, "mask": "", "fraction": "0.25", "weak_mask": "a_weak.png"}]))
    assert samples[0].mask is None and samples[0].fraction == 0.25
    assert samples[0].weak.sum() == 4 and samples[0].image.shape == (20, 30)



@pytest.mark.parametrize(("row", "message"), [
    ({"fraction": "1.5"}, "a.png: ROI fraction 1.5 is outside [0, 1]"),
    ({"fraction": "abc"}, "line 2: fraction 'abc' is not a number"),
    ({"weak_mask": "small.png", "fraction": "0.1"}, "small.png: weak mask is 5x5 but its image "
                                                   "is 20x30"),
    ({"weak_mask": "empty.png", "fraction": "0.1"}, "empty.png: weak mask is empty"),
    ({"mask": "missing.png"}, "missing.png: file not found"),
    ({"fraction": ""}, "a.png: neither a mask nor a fraction"),
])
def test_bad_datasets_are_refused_naming_the_file(tmp_path, row, message):
    _picture(tmp_path / "a.png", np.zeros((20, 30), np.uint8))
    _picture(tmp_path / "small.png", np.full((5, 5), 255, np.uint8))
    _picture(tmp_path / "empty.png", np.zeros((20, 30), np.uint8))
    with pytest.raises(ScoreKitError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_dataset(_csv(tmp_path / "d.csv", [{"image": "a.png", **row}]))
