"""``--shard I/N`` (the split itself is exercised in Testing/e2e/test_own_scans.py)."""

from __future__ import annotations

import pytest

from scorekit.errors import ScoreKitError
from scorekit.workflows.batch import parse_shard


def test_a_shard_reads_as_index_and_count():
    assert parse_shard("2/4") == (2, 4)
    assert parse_shard(" 1 / 1 ") == (1, 1)


@pytest.mark.parametrize("text", ["0/4", "5/4", "2", "a/b", "2/4/1"])
def test_a_bad_shard_is_refused_by_its_text(text):
    with pytest.raises(ScoreKitError, match=f"shard '{text}'"):
        parse_shard(text)
