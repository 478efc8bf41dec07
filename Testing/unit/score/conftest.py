"""A model trained for a few steps on the shared phantom workspace, for the tests that
need one (trained once per session)."""

from __future__ import annotations

import pytest
from support import SCORE_TINY

from scorekit.score.trainer import TrainOptions, train


@pytest.fixture(scope="session")
def trained(small_phantom_workspace, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "m"
    train(small_phantom_workspace.path, out, TrainOptions(steps=10, lr=1e-3, **SCORE_TINY),
          device="cpu")
    return out
