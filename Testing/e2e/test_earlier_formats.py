"""Workspaces and exports that earlier versions wrote keep working: they open, take new
ratings and train.

The case folders (``workspace.json``, ``cases/<case>/image.nii.gz``, ``initial.seg.nrrd``,
``case.json`` with ``regions``) have kept one layout since the first version; what changed
is the ratings: ``ratings.json`` of format 1 (the quality called ``score``), of format 2
(``quality``), and CSV exports headed ``score``. ``support.py`` writes each as those
versions did.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from support import write_ratings_csv_v1, write_ratings_json

from scorekit.data.workspace import RATINGS, Workspace
from scorekit.web.app import create_app


def scorekit(*argv):
    return subprocess.run([sys.executable, "-m", "scorekit", *map(str, argv)],
                          capture_output=True, text=True, timeout=600)


def as_tuples(ratings):
    return [(r.case, r.region, r.quality, int(r.error), r.rater, r.seconds, r.time, r.comment)
            for r in ratings]


@pytest.fixture()
def earlier(small_phantom_workspace, tmp_path):
    """The phantom cases and their simulated ratings, with the ratings as an earlier
    version kept them (no database yet)."""
    def make(version: int):
        path = shutil.copytree(small_phantom_workspace.path, tmp_path / f"v{version}")
        (path / RATINGS).unlink()
        ratings = as_tuples(small_phantom_workspace.ratings.all())
        write_ratings_json(path / "ratings.json", ratings, version)
        return path, ratings
    return make


@pytest.mark.parametrize("version", [1, 2])
def test_a_workspace_of_each_earlier_format_lists_rates_and_trains(earlier, tmp_path, version):
    path, ratings = earlier(version)
    listed = scorekit("ratings", "list", "--workspace", path)
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == len(ratings)
    progress = scorekit("workspace", "list", path)
    assert progress.returncode == 0 and "2 case(s)" in progress.stdout, progress.stderr

    ws = Workspace(path)
    case = ws.case_ids()[0]
    client = TestClient(create_app(path), base_url="http://localhost")
    saved = client.post(f"/api/cases/{case}/ratings", json={
        "rater": "new rater", "seconds": 20.0, "ratings": [
            {"region": "humerus_left", "quality": 2, "error": "over", "comment": ""},
            {"region": "humerus_right", "quality": 5, "error": "none", "comment": ""}]})
    assert saved.status_code == 200, saved.text
    assert len(ws.ratings.all()) == len(ratings) + 2

    trained = scorekit("train", "--workspace", path, "--out", tmp_path / "model", "--steps", 2,
                       "--patch-size", 32, "--device", "cpu")
    assert trained.returncode == 0, trained.stderr
    assert (tmp_path / "model" / "model.safetensors").exists()


def test_a_ratings_csv_exported_before_the_rename_imports_from_the_command_line(
        earlier, tmp_path):
    path, ratings = earlier(2)
    (path / "ratings.json").unlink()
    exported = write_ratings_csv_v1(tmp_path / "old.csv", ratings)
    imported = scorekit("ratings", "import", exported, "--workspace", path)
    assert imported.returncode == 0, imported.stderr
    assert sorted(as_tuples(Workspace(path).ratings.all())) == sorted(ratings)
