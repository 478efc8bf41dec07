"""Run a ``scorekit`` verb in a child process and follow its JSON-lines progress.

Front ends (the Slicer modules, batch scripts) use this so that long work never blocks
their event loop: ``start``, then ``poll`` from a timer (or ``wait``); ``cancel`` ends the
whole process tree. Inside Slicer the child is ``PythonSlicer``, elsewhere this Python.

A :class:`Worker` keeps one ``scorekit worker`` child alive between requests, so a second
refinement skips the imports and the model loading; a request is a job like any other
(poll, wait, cancel: cancelling ends the worker, and the next request starts a new one).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Windows process-creation flags (subprocess names them only on Windows).
CREATE_NEW_PROCESS_GROUP = 0x00000200
CREATE_NO_WINDOW = 0x08000000


def child_options(os_name: str = os.name) -> dict:
    """Popen options for a job's child: no console window on Windows (Slicer is a GUI
    application; each job would open one), and a new session or process group so that
    cancel reaches every grandchild too."""
    if os_name == "nt":
        return {"creationflags": CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW}
    return {"start_new_session": True}


def child_environment(environ=None) -> dict:
    """The child imports this very scorekit, wherever it is installed (Slicer's module
    folder is not on PythonSlicer's default path), writes UTF-8 whatever the system code
    page, and does not buffer its progress lines."""
    environ = dict(os.environ if environ is None else environ)
    here = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [here, environ.get("PYTHONPATH")]))
    return environ | {"PYTHONUNBUFFERED": "1", "PYTHONUTF8": "1", "PYTHONIOENCODING": "utf-8",
                      "PYTHONPATH": path}


def python_executable() -> str:
    """``$SCOREKIT_PYTHON``, Slicer's ``PythonSlicer`` inside the application, else this one."""
    if os.environ.get("SCOREKIT_PYTHON"):
        return os.environ["SCOREKIT_PYTHON"]
    slicer = sys.modules.get("slicer")
    if slicer is not None and hasattr(slicer, "app"):
        found = shutil.which("PythonSlicer")
        if found:
            return found
    return sys.executable


@dataclass
class ProgressState:
    """What a progress bar shows: stage, steps done of total, times in seconds."""

    stage: str = ""
    done: int = 0
    total: int = 0
    elapsed: float = 0.0
    remaining: float | None = None
    info: dict = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


class Job:
    """One ``python -m scorekit <argv>`` child; stdout and stderr are read line by line."""

    def __init__(self, argv: list[str], on_progress: Callable[[ProgressState], None] | None = None,
                 on_log: Callable[[str], None] | None = None, keep_stdin: bool = False):
        self.argv = [str(a) for a in argv]
        self.on_progress = on_progress or (lambda state: None)
        self.on_log = on_log or (lambda line: None)
        self.state = ProgressState()
        self.returncode: int | None = None
        self.cancelled = False
        self.last_lines: list[str] = []
        self._process: subprocess.Popen | None = None
        self._lines: queue.Queue = queue.Queue()
        self._started = self._stage_started = 0.0
        self._keep_stdin = keep_stdin

    @property
    def command(self) -> list[str]:
        return [python_executable(), "-m", "scorekit", *self.argv]

    def start(self) -> Job:
        stdin = subprocess.PIPE if self._keep_stdin else subprocess.DEVNULL
        self._process = subprocess.Popen(self.command, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, stdin=stdin,
                                         text=True, encoding="utf-8", errors="replace",
                                         env=child_environment(), **child_options())
        self._started = self._stage_started = time.monotonic()
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        for line in self._process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)  # end of output

    def poll(self) -> int | None:
        """Hand every line read so far to the callbacks; the exit code once all is read."""
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return None
            if line is None:
                self.returncode = self._process.wait()
                return self.returncode
            self._handle(line)

    def wait(self, timeout: float | None = None, interval: float = 0.1) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                self.cancel()
                raise TimeoutError(f"scorekit {self.argv[0]} ran past {timeout} s; cancelled")
            time.sleep(interval)
        return self.returncode

    def cancel(self, grace: float = 5.0) -> None:
        """End the child and its children: a polite signal first, then a kill."""
        if self._process is None or self._process.poll() is not None:
            return
        self.cancelled = True
        if os.name == "nt":
            subprocess.run(["taskkill", "/F", "/T", "/PID", str(self._process.pid)],
                           capture_output=True, check=False, **child_options())
        else:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()

    def check(self) -> None:
        """Raise the child's one-line error (a ScoreKitError) unless it ended well."""
        from scorekit.errors import ScoreKitError

        if self.returncode is None:
            raise ScoreKitError(f"scorekit {self.argv[0]} has not finished")
        if self.returncode != 0:
            raise ScoreKitError(self.error or f"scorekit {self.argv[0]} failed "
                                f"(exit {self.returncode})")

    @property
    def error(self) -> str:
        """The child's last line of output: scorekit prints its one-line error there."""
        return self.last_lines[-1] if self.last_lines else ""

    def _handle(self, line: str) -> None:
        record = _json_record(line)
        if record is None or record.get("event") == "log":
            message = line if record is None else str(record.get("message", ""))
            self.last_lines = [*self.last_lines[-19:], message]
            self.on_log(message)
        elif record.get("event") == "progress":
            self._update(record)
            self.on_progress(self.state)

    def _update(self, record: dict) -> None:
        now = time.monotonic()
        stage = str(record.get("stage", ""))
        if stage != self.state.stage:
            self._stage_started = now
        done, total = int(record.get("done", 0)), int(record.get("total", 0))
        in_stage = now - self._stage_started
        remaining = in_stage / done * (total - done) if done > 0 and total else None
        info = {k: v for k, v in record.items() if k not in ("event", "stage", "done", "total")}
        self.state = ProgressState(stage, done, total, now - self._started, remaining, info)


class Worker:
    """One long-lived ``scorekit worker`` child; ``request(argv)`` runs a verb in it."""

    def __init__(self) -> None:
        self._process_job: Job | None = None

    @property
    def alive(self) -> bool:
        job = self._process_job
        return job is not None and job._process.poll() is None

    def request(self, argv: list[str], on_progress=None, on_log=None) -> Request:
        if not self.alive:
            self._process_job = Job(["worker"], keep_stdin=True).start()
        return Request(self._process_job, argv, on_progress, on_log).start()

    def close(self) -> None:
        if self._process_job is not None:
            self._process_job.cancel()
            self._process_job = None


class Request(Job):
    """One verb run by a worker: the same interface as a Job of its own."""

    def __init__(self, worker: Job, argv, on_progress=None, on_log=None):
        super().__init__(argv, on_progress, on_log)
        self._worker = worker

    def start(self) -> Request:
        self._started = self._stage_started = time.monotonic()
        self._worker._process.stdin.write(json.dumps({"argv": self.argv}) + "\n")
        self._worker._process.stdin.flush()
        return self

    def poll(self) -> int | None:
        while self.returncode is None:
            try:
                line = self._worker._lines.get_nowait()
            except queue.Empty:
                return None
            if line is None:  # the worker died
                self.returncode = self._worker._process.wait() or 1
                break
            record = _json_record(line)
            if record is not None and record.get("event") == "end":
                self.returncode = int(record.get("returncode", 1))
            else:
                self._handle(line)
        return self.returncode

    def cancel(self, grace: float = 5.0) -> None:
        if self.returncode is None:
            self.cancelled = True
            self._worker.cancel(grace)
            self.returncode = -1


def _json_record(line: str) -> dict | None:
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def run(argv: list[str], **callbacks) -> Job:
    """Start a job and wait for it; raise with the child's error line when it fails."""
    job = Job(argv, **callbacks).start()
    job.wait()
    job.check()
    return job
