"""K-fold cross-validation by patient: the dataset's own folds, or deterministic groups."""

from __future__ import annotations

import numpy as np
import pytest
from support import write_csv as _csv
from support import write_picture as _picture

from scorekit.errors import ScoreKitError
from scorekit.weakstat.data import Sample, fold_splits, read_dataset


def _samples(groups: list[str], folds: list[int | None] | None = None) -> list[Sample]:
    folds = folds or [None] * len(groups)
    return [Sample(f"{g}-{i}.png", np.zeros((4, 4), np.float32), 0.1, group=g, fold=f)
            for i, (g, f) in enumerate(zip(groups, folds))]


def _assert_partition_by_patient(samples: list[Sample], splits) -> None:
    tests = [{s.name for s in test} for _, test in splits]
    assert sorted(n for t in tests for n in t) == sorted(s.name for s in samples)
    for train, test in splits:
        assert {s.name for s in train} | {s.name for s in test} == {s.name for s in samples}
        assert not {s.group for s in train} & {s.group for s in test}
    patients = [{s.group for s in test} for _, test in splits]
    for i, a in enumerate(patients):
        for b in patients[i + 1:]:
            assert not a & b


def test_busbra_folds_are_the_datasets_own_and_never_share_a_patient(shared_data):
    samples = read_dataset(shared_data / "us" / "busbra")
    assert all(s.fold is not None for s in samples)  # from 5-fold-cv.csv
    splits = fold_splits(samples, 5)
    assert [{s.fold for s in test} for _, test in splits] == [{1}, {2}, {3}, {4}, {5}]
    _assert_partition_by_patient(samples, splits)


def test_without_given_folds_patients_are_spread_deterministically_and_kept_together():
    groups = [f"p{i // 2 if i < 20 else i}" for i in range(40)]  # 10 pairs, 20 singles
    samples = _samples(groups)
    splits = fold_splits(samples, 4, seed=3)
    _assert_partition_by_patient(samples, splits)
    sizes = [len(test) for _, test in splits]
    assert max(sizes) - min(sizes) <= 2  # a pair may tip the balance by one
    again = fold_splits(samples, 4, seed=3)
    assert [[s.name for s in t] for _, t in again] == [[s.name for s in t] for _, t in splits]


def test_images_without_a_given_fold_join_their_patients_fold_or_the_smallest():
    samples = _samples(["a", "a", "b", "c", "d"], [1, None, 2, None, None])
    splits = fold_splits(samples, 2)
    _assert_partition_by_patient(samples, splits)
    assert {s.name for s in splits[0][1]} >= {"a-0.png", "a-1.png"}
    assert len(splits[0][1]) in (2, 3) and len(splits[1][1]) in (2, 3)


def test_a_given_fold_that_splits_a_patient_or_too_few_patients_are_refused():
    with pytest.raises(ScoreKitError, match=r"a-1\.png: its fold 2 splits patient 'a'"):
        fold_splits(_samples(["a", "a", "b"], [1, 2, 1]), 2)
    with pytest.raises(ScoreKitError, match="3 folds need at least 3 patients; the data has 2"):
        fold_splits(_samples(["a", "b"]), 3)


def test_a_folder_fold_file_names_images_by_stem_and_bad_folds_name_the_line(tmp_path):
    for name in ("x_01-l", "x_01-r", "x_02-l"):
        mask = np.zeros((8, 8), np.uint8)
        mask[2:5, 2:5] = 255
        _picture(tmp_path / "images" / f"{name}.png", np.full((8, 8), 90, np.uint8))
        _picture(tmp_path / "masks" / f"{name}.png", mask)
    _csv(tmp_path / "folds.csv", [{"ID": "x_01-l", "kFold": "2"}, {"ID": "x_01-r", "kFold": "2"}])
    samples = read_dataset(tmp_path)
    assert [(s.group, s.fold) for s in samples] == [("01", 2), ("01", 2), ("02", None)]
    _csv(tmp_path / "folds.csv", [{"ID": "x_01-l", "kFold": "two"}])
    with pytest.raises(ScoreKitError, match=r"folds.csv line 2: fold 'two' is not a whole"):
        read_dataset(tmp_path)
