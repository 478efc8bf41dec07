"""The ``scorekit`` command as a user runs it: a real subprocess, its output and exit code."""

from __future__ import annotations

import json
import subprocess
import sys

from scorekit import __version__


def scorekit(*argv, check=True):
    result = subprocess.run([sys.executable, "-m", "scorekit", *map(str, argv)],
                            capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_help_lists_the_verbs_and_version_prints_it():
    help_text = scorekit("--help").stdout
    for verb in ("info", "convert", "phantom", "ratings"):
        assert verb in help_text
    assert __version__ in scorekit("--version").stdout


def test_info_json_on_the_dicom_series(humerus_data):
    info = json.loads(scorekit("info", humerus_data / "dicom", "--json").stdout)
    assert info["size"] == [512, 512, 20]
    assert info["kind"] == "volume"
    assert info["range"][0] <= -1000 and info["range"][1] > 1000


def test_phantom_reports_json_progress_and_writes_a_rated_workspace(tmp_path):
    out = scorekit("phantom", "--out", tmp_path / "ws", "--cases", 2, "--fov", "distal",
                   "--json-progress").stdout
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert events[0] == {"event": "progress", "stage": "phantoms", "done": 0, "total": 2}
    assert events[-1]["done"] == 2
    listed = scorekit("ratings", "list", "--workspace", tmp_path / "ws").stdout.splitlines()
    assert len(listed) == 4 and all("simulated" in line for line in listed)
    scorekit("ratings", "export", tmp_path / "r.csv", "--workspace", tmp_path / "ws")
    assert (tmp_path / "r.csv").read_text().count("\n") == 5


def test_errors_are_one_line_and_debug_shows_the_traceback(tmp_path):
    plain = scorekit("info", tmp_path / "missing.nii.gz", check=False)
    assert plain.returncode == 2
    assert plain.stderr.strip().count("\n") == 0 and "no such file" in plain.stderr
    debug = scorekit("--debug", "info", tmp_path / "missing.nii.gz", check=False)
    assert debug.returncode != 0 and "Traceback" in debug.stderr
