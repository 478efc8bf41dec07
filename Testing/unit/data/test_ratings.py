"""Ratings: the quality 5 ⇔ no error rule, the store (atomic, locked, per rater), CSV."""

from __future__ import annotations

import json
import multiprocessing

import pytest

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
    json.loads(workspace.ratings.path.read_text())  # still one valid JSON document



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


def test_a_killed_write_of_the_store_is_cleaned_up_by_the_next_one(workspace):
    case = workspace.case_ids()[0]
    left = workspace.ratings.path.parent / ".ratings.json.abcd1234.json"  # a killed write's
    left.write_text("{half")
    other = workspace.ratings.path.parent / ".model.json.abcd1234.json"  # not the store's
    other.write_text("{}")
    workspace.ratings.put([Rating(case, "humerus_left", 3, BOTH, rater="ana")])
    assert not left.exists() and other.exists()
