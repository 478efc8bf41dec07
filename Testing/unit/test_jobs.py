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
