"""Workspaces: cases with their regions and reference; a folder that is not one is refused."""

from __future__ import annotations

import pytest

from scorekit.cli import main
from scorekit.data.workspace import Workspace
from scorekit.errors import ScoreKitError


def test_cases_keep_regions_and_reference(workspace):
    case = workspace.cases()[0]
    assert case.regions == ["humerus_left", "humerus_right"]
    assert case.has_reference
    assert case.initial().geometry.matches(case.image().geometry)



def test_folder_that_is_not_a_workspace_is_refused_clearly(tmp_path, capsys):
    (tmp_path / "stuff.txt").write_text("x")
    with pytest.raises(ScoreKitError, match="not a scorekit workspace"):
        Workspace(tmp_path)
    assert main(["phantom", "--out", str(tmp_path), "--cases", "1"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stuff.txt"]
