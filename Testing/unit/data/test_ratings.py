"""Ratings: the quality 5 ⇔ no error rule, the store (atomic, locked, per rater), CSV."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest
from support import write_ratings_csv_v1, write_ratings_json

from scorekit.data.ratings import BOTH, NONE, OVER, UNDER, Rating
from scorekit.data.workspace import Workspace
from scorekit.errors import ScoreKitError


@pytest.mark.parametrize(("quality", "error", "reason"), [
    (5, UNDER, "quality 5 means no error"),
    (3, NONE, "needs an error label"),
    (6, OVER, "not an integer in 0..5"),
    (2, 7, "not one of"),
])
def test_invalid_ratings_are_refused_naming_case_and_region(workspace, quality, error, reason):
    case = workspace.case_ids()[0]
    with pytest.raises(ScoreKitError, match=reason) as info:
        workspace.ratings.put([Rating(case, "humerus_left", quality, error)])
    assert case in str(info.value) and "humerus_left" in str(info.value)
    assert workspace.ratings.all() == []



def test_unknown_case_or_region_is_refused(workspace):
    case = workspace.case_ids()[0]
    with pytest.raises(ScoreKitError, match="unknown region"):
        workspace.ratings.put([Rating(case, "femur_left", 3, UNDER)])
    with pytest.raises(ScoreKitError, match="case 'nope'"):
        workspace.ratings.put([Rating("nope", "humerus_left", 3, UNDER)])
    with pytest.raises(ScoreKitError, match="not in workspace"):
        workspace.case("../../etc")



def test_one_bad_rating_stores_none_of_the_batch(workspace):
    case = workspace.case_ids()[0]
    good = Rating(case, "humerus_left", 4, OVER)
    bad = Rating(case, "humerus_right", 5, BOTH)
    with pytest.raises(ScoreKitError):
        workspace.ratings.put([good, bad])
    assert workspace.ratings.all() == []



def test_a_rater_re_rating_a_region_replaces_their_record(workspace):
    case = workspace.case_ids()[0]
    workspace.ratings.put([Rating(case, "humerus_left", 2, UNDER, rater="ana")])
    workspace.ratings.put([Rating(case, "humerus_left", 5, NONE, rater="ana"),
                           Rating(case, "humerus_left", 3, BOTH, rater="ben")])
    stored = {r.rater: (r.quality, r.error) for r in workspace.ratings.all()}
    assert stored == {"ana": (5, NONE), "ben": (3, BOTH)}



def _rate_many(path, case, rater, n):
    ws = Workspace(path)
    for i in range(n):
        ws.ratings.put([Rating(case, "humerus_left", i % 5, UNDER, rater=f"{rater}{i}")])



def test_two_processes_rating_at_once_lose_nothing(workspace):
    case = workspace.case_ids()[0]
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_rate_many, args=(workspace.path, case, r, 15))
               for r in ("a", "b")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    assert len(workspace.ratings.all()) == 30
    with sqlite3.connect(workspace.ratings.path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)



def test_ratings_csv_round_trip(workspace, tmp_path):
    case = workspace.case_ids()[0]
    formula = '=HYPERLINK("http://evil.example","x")'
    ratings = [Rating(case, "humerus_left", 3, BOTH, rater="ana", seconds=12.5, comment="a, b"),
               Rating(case, "humerus_right", 5, NONE, rater="@ana", seconds=4, comment=formula)]
    workspace.ratings.put(ratings)
    assert workspace.ratings.export_csv(tmp_path / "r.csv") == 2
    exported = (tmp_path / "r.csv").read_text()
    assert "both" in exported
    # Cells a spreadsheet would run as formulas are written behind a quote ...
    assert "'@ana" in exported and '"\'=HYPERLINK(' in exported
    assert ",=" not in exported and ",@" not in exported
    other = Workspace.create(tmp_path / "other")
    for c in workspace.cases():
        other.add_case(c.id, c.image(), c.initial())
    assert other.ratings.import_csv(tmp_path / "r.csv") == 2
    assert other.ratings.all() == workspace.ratings.all()  # ... and read back as they were



def test_csv_import_with_a_bad_row_imports_nothing(workspace, tmp_path):
    case = workspace.case_ids()[0]
    (tmp_path / "r.csv").write_text(f"case,region,quality,error\n{case},humerus_left,3,under\n"
                                    f"{case},humerus_right,4,sideways\n")
    with pytest.raises(ScoreKitError, match="line 3"):
        workspace.ratings.import_csv(tmp_path / "r.csv")
    assert workspace.ratings.all() == []


def test_a_killed_creation_of_the_store_is_cleaned_up_by_the_next_one(workspace):
    case = workspace.case_ids()[0]
    left = workspace.path / ".ratings.sqlite.abcd1234.sqlite"  # a killed creation's
    left.write_text("half")
    other = workspace.path / ".model.json.abcd1234.json"  # not the store's
    other.write_text("{}")
    workspace.ratings.put([Rating(case, "humerus_left", 3, BOTH, rater="ana")])
    assert not left.exists() and other.exists()


RATED = [("{case}", "humerus_left", 3, -1, "ana", 12.5, "2025-03-01T10:00:00+00:00", "thin"),
         ("{case}", "humerus_right", 5, 0, "ana", 4.0, "2025-03-01T10:00:09+00:00", ""),
         ("{case}", "humerus_left", 1, 2, "ben", 30.0, "2025-03-02T08:30:00+00:00", "a, b")]


def legacy_ratings(case):
    return [(r[0].format(case=case), *r[1:]) for r in RATED]


@pytest.mark.parametrize("version", [1, 2])
def test_a_ratings_json_of_each_earlier_format_migrates_on_first_open_and_is_kept(
        workspace, version):
    case = workspace.case_ids()[0]
    old = write_ratings_json(workspace.path / "ratings.json", legacy_ratings(case), version)
    before = old.read_bytes()
    stored = Workspace(workspace.path).ratings.all()
    assert [(r.case, r.region, r.quality, r.error, r.rater, r.seconds, r.time, r.comment)
            for r in stored] == sorted(legacy_ratings(case), key=lambda r: (r[0], r[1], r[4]))
    assert workspace.ratings.path.exists() and old.read_bytes() == before
    workspace.ratings.put([Rating(case, "humerus_right", 2, OVER, rater="ben")])
    assert len(Workspace(workspace.path).ratings.all()) == 4  # the database decides now


@pytest.mark.parametrize("line_end", ["\r\n", "\n"])
def test_a_csv_exported_before_the_quality_was_renamed_imports(workspace, tmp_path, line_end):
    case = workspace.case_ids()[0]
    path = write_ratings_csv_v1(tmp_path / "old.csv", legacy_ratings(case), line_end)
    assert workspace.ratings.import_csv(path) == 3
    assert {(r.rater, r.region): (r.quality, r.error) for r in workspace.ratings.all()} == {
        ("ana", "humerus_left"): (3, UNDER), ("ana", "humerus_right"): (5, NONE),
        ("ben", "humerus_left"): (1, BOTH)}


def _open_and_rate(path, case, rater):
    Workspace(path).ratings.put([Rating(case, "humerus_right", 4, OVER, rater=rater)])


def test_processes_opening_an_old_workspace_at_once_migrate_it_once_and_lose_nothing(
        workspace):
    case = workspace.case_ids()[0]
    write_ratings_json(workspace.path / "ratings.json", legacy_ratings(case), 2)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_open_and_rate, args=(workspace.path, case, f"r{i}"))
               for i in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    assert len(workspace.ratings.all()) == 3 + 3


def test_a_refused_save_and_a_read_create_no_store(workspace):
    case = workspace.case_ids()[0]
    assert workspace.ratings.all() == [] and workspace.ratings.counts() == {}
    with pytest.raises(ScoreKitError):
        workspace.ratings.put([Rating(case, "humerus_left", 5, UNDER)])
    assert sorted(p.name for p in workspace.path.iterdir()) == ["cases", "workspace.json"]


def test_a_store_that_is_not_a_database_is_refused_naming_it(workspace):
    workspace.ratings.path.write_text("ratings? no\n" * 100)
    with pytest.raises(ScoreKitError, match=r"ratings\.sqlite: cannot be used as the ratings "
                                            r"database"):
        workspace.ratings.all()


def test_counts_are_per_case_and_rater(workspace):
    first, second = workspace.case_ids()[:2]
    workspace.ratings.put([Rating(first, "humerus_left", 3, UNDER, rater="ana"),
                           Rating(first, "humerus_right", 3, UNDER, rater="ana"),
                           Rating(second, "humerus_left", 3, UNDER, rater="ben")])
    assert workspace.ratings.counts() == {(first, "ana"): 2, (second, "ben"): 1}


def test_a_store_deleted_while_open_starts_empty_not_from_its_left_over_log(workspace):
    case = workspace.case_ids()[0]
    workspace.ratings.keep_connections()  # as the rating form does
    workspace.ratings.put([Rating(case, "humerus_left", 3, UNDER, rater="ana")])
    assert workspace.ratings.path.with_name("ratings.sqlite-wal").exists()  # still open
    workspace.ratings.path.unlink()  # someone resets the ratings by hand
    fresh = Workspace(workspace.path)
    fresh.ratings.put([Rating(case, "humerus_right", 4, OVER, rater="ben")])
    assert [(r.rater, r.region) for r in fresh.ratings.all()] == [("ben", "humerus_right")]
