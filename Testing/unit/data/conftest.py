from __future__ import annotations

import pytest

from scorekit.data.workspace import Workspace


@pytest.fixture()
def workspace(small_phantom_workspace, tmp_path):
    """A fresh workspace sharing the phantom cases' region names, without their ratings."""
    ws = Workspace.create(tmp_path / "ws")
    for case in small_phantom_workspace.cases():
        ws.add_case(case.id, case.image(), case.initial(), case.reference())
    return ws
