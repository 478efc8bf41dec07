"""The TotalSegmentator runner against the TotalSegmentator releases it may meet: the one
Slicer's TotalSegmentator extension installs (2.13.0, the oldest accepted), each installed
by the test into a folder of its own that shadows this environment's copy, run up to the
weights check; an older one is refused with the upgrade to run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pypi import needs_pypi, pip

ROOT = Path(__file__).resolve().parents[2]
RUN_TO_THE_WEIGHTS_CHECK = """
from scorekit.errors import ScoreKitError
from scorekit.initial import totalseg
try:
    totalseg.check_weights(["humerus_left"], fast={fast})
except ScoreKitError as error:
    print(error)
"""


def run_with(version: str, tmp_path: Path, fast: bool) -> str:
    """The runner's first output line with TotalSegmentator ``version`` in front."""
    target = tmp_path / f"ts-{version}"
    if not target.exists():
        installed = pip("install", "--no-deps", "--only-binary=:all:", "--target", target,
                        f"TotalSegmentator=={version}")
        assert installed.returncode == 0, installed.stderr[-2000:]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), str(ROOT)]),
               TOTALSEG_WEIGHTS_PATH=str(tmp_path / "no-weights"), OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", RUN_TO_THE_WEIGHTS_CHECK.format(fast=fast)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


@pytest.mark.slow
@pytest.mark.parametrize("fast, folders", [
    (False, "Dataset294_TotalSegmentator_part4_muscles_1559subj, "
            "Dataset298_TotalSegmentator_total_6mm_1559subj (task ids 294 298)"),
    (True, "Dataset297_TotalSegmentator_total_3mm_1559subj, "
           "Dataset298_TotalSegmentator_total_6mm_1559subj (task ids 297 298)")])
def test_the_runner_reaches_the_weights_check_with_the_slicer_extensions_release(
        tmp_path, fast, folders):
    needs_pypi()
    message = run_with("2.13.0", tmp_path, fast)
    assert message.startswith("TotalSegmentator weights missing in "), message
    assert folders in message


def test_the_installed_release_needs_the_same_weights_folders(tmp_path, monkeypatch):
    pytest.importorskip("totalsegmentator")
    from scorekit.errors import ScoreKitError
    from scorekit.initial import totalseg

    monkeypatch.setenv("TOTALSEG_WEIGHTS_PATH", str(tmp_path))
    with pytest.raises(ScoreKitError, match="part4_muscles_1559subj, Dataset298_"):
        totalseg.check_weights(["humerus_left"], fast=False)
    assert [w.task_id for w in totalseg.required_weights(None, fast=False)] == \
        totalseg.LEGACY_TASK_IDS[False]


@pytest.mark.slow
def test_an_older_release_is_refused_with_the_upgrade(tmp_path):
    needs_pypi()
    message = run_with("2.4.0", tmp_path, fast=False)
    assert message == ("TotalSegmentator 2.4.0 is too old (2.13 or later needed): "
                       "pip install --upgrade 'TotalSegmentator>=2.13'")
