"""Jobs: a real ``python -m scorekit`` child, its progress lines, its text, its options."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from scorekit import jobs


def test_a_child_job_reports_progress_and_non_ascii_text_intact(tmp_path, monkeypatch):
    # The child is a plain Python script standing in for scorekit: it prints what a verb
    # prints, with non-ASCII text a Windows code page would garble.
    script = tmp_path / "child.py"
    script.write_text('import json, sys\n'
                      'print(json.dumps({"event": "progress", "stage": "s", "done": 1, '
                      '"total": 2}))\n'
                      'print("rater Müller, 5 ° rotation", sys.flags.utf8_mode)\n')
    job = jobs.Job(["unused"])
    monkeypatch.setattr(jobs.Job, "command", property(lambda self: [sys.executable, script]))
    seen = []
    job.on_progress = lambda state: seen.append((state.done, state.total))
    assert job.start().wait(timeout=60) == 0
    assert seen == [(1, 2)]
    assert job.last_lines == ["rater Müller, 5 ° rotation 1"]


def test_children_open_no_console_window_on_windows_and_form_their_own_group():
    windows = jobs.child_options("nt")["creationflags"]
    assert windows & jobs.CREATE_NO_WINDOW and windows & jobs.CREATE_NEW_PROCESS_GROUP
    assert jobs.child_options("posix") == {"start_new_session": True}


def test_the_child_finds_this_scorekit_and_writes_utf8():
    environment = jobs.child_environment({"PYTHONPATH": "/elsewhere"})
    first, rest = environment["PYTHONPATH"].split(os.pathsep, 1)
    assert Path(first, "scorekit", "jobs.py").exists()
    assert rest == "/elsewhere"
    assert environment["PYTHONUTF8"] == "1"


def test_a_worker_serves_requests_in_one_process_and_survives_bad_ones(tmp_path):
    from support import volume

    from scorekit.data.volume import write_volume

    image = write_volume(volume(), tmp_path / "ct.nii.gz")
    worker = jobs.Worker()
    try:
        lines = []
        first = worker.request(["info", image, "--json"], on_log=lines.append)
        assert first.wait(timeout=120) == 0, first.last_lines
        assert any('"size": [' in line for line in lines)
        pid = worker._process_job._process.pid
        missing = worker.request(["info", tmp_path / "nowhere.nii.gz"])
        assert missing.wait(timeout=60) == 2
        assert "nowhere.nii.gz" in missing.error and missing.error.startswith("scorekit info")
        unknown = worker.request(["info"])  # argparse refuses: still one worker
        assert unknown.wait(timeout=60) == 2
        again = worker.request(["info", image])
        assert again.wait(timeout=60) == 0
        assert worker._process_job._process.pid == pid
    finally:
        worker.close()


def test_cancelling_a_request_ends_the_worker_and_the_next_request_starts_one(tmp_path):
    worker = jobs.Worker()
    try:
        slow = worker.request(["phantom", "--out", tmp_path / "ws", "--cases", 50])
        first_pid = worker._process_job._process.pid
        slow.cancel()
        assert slow.cancelled and slow.poll() == -1 and not worker.alive
        after = worker.request(["--version"])
        assert after.wait(timeout=120) == 0
        assert worker._process_job._process.pid != first_pid
    finally:
        worker.close()
