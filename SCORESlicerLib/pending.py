"""A ``scorekit`` child that writes into a temporary folder, and what turns its output into
scene nodes once it has succeeded, driven in short steps from Slicer's GUI thread (the job
panel's timer calls ``poll``) so that the application stays responsive:

1. ``prepare(folder)`` writes the inputs and returns the verb's argv; a generator that
   yields between pieces of work (``SCORESlicerLib.handover``) is run one piece per step;
2. the child (or a warm ``worker``'s request) runs while the event loop goes on;
3. ``load(folder)``, where given, reads the output in a background thread (files and
   numpy only: the scene is not thread-safe);
4. ``finish(loaded)`` (or ``finish(folder)`` without ``load``) makes the nodes on the GUI
   thread when the result is taken.

Scripts and tests call ``wait()``. A result belongs to the scene it was started in:
closing that scene (the next patient) cancels it and drops its output, so it never lands
in the next patient's scene."""

from __future__ import annotations

import inspect
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import slicer

from scorekit import jobs
from scorekit.errors import ScoreKitError

SCENE_CLOSED = "the scene was closed while it ran; its result was dropped"
STEP_BUDGET = 0.05  # seconds of GUI-thread work per step (the goal: never 0.2 s at once)


class PendingResult:
    """One job's way from the scene to the child and back; the job panel drives it like a
    ``scorekit.jobs.Job`` (``poll``, ``state``, ``cancel``, ``cancelled``, ``returncode``,
    ``error``). The folder is removed when the result is taken or discarded."""

    def __init__(self, prepare: Callable, finish: Callable, on_progress=None, on_log=None,
                 worker: jobs.Worker | None = None, load: Callable | None = None):
        self._folder = tempfile.TemporaryDirectory(prefix="score-slicer-")
        self.folder = Path(self._folder.name)
        self._finish, self._load = finish, load
        self._start_job = (lambda argv: worker.request(argv, on_progress, on_log)) \
            if worker is not None else \
            (lambda argv: jobs.Job(argv, on_progress=on_progress, on_log=on_log).start())
        self.job: jobs.Job | None = None
        self.cancelled = self.scene_closed = False
        self._loaded = self._load_error = self._loader = None
        self._scene = slicer.mrmlScene
        self._observer = self._scene.AddObserver(slicer.vtkMRMLScene.StartCloseEvent,
                                                 self._on_scene_close)
        try:
            made = prepare(self.folder)
            self._preparing = made if inspect.isgenerator(made) else None
            if self._preparing is None:
                self.job = self._start_job(made)
        except BaseException:
            self.discard()
            raise

    # -- the job-like face the job panel polls ---------------------------------------------
    @property
    def state(self) -> jobs.ProgressState:
        if self.job is None:
            return jobs.ProgressState("handing over")
        if self._loader is not None:
            return jobs.ProgressState("reading the result")
        return self.job.state

    @property
    def returncode(self) -> int | None:
        if self.cancelled:
            return -1
        if self._load_error is not None and self.job is None:
            return 1  # the hand-over failed
        return None if self.job is None else self.job.returncode

    @property
    def error(self) -> str:
        if self._load_error is not None:
            return str(self._load_error)
        return self.job.error if self.job is not None else ""

    def poll(self) -> int | None:
        """One step; the return code once everything up to ``result()`` is done."""
        return self.returncode if self.step() else None

    def step(self) -> bool:
        """Advance by at most ``STEP_BUDGET`` of GUI-thread work; True once ended."""
        if self.cancelled or (self.job is None and self._load_error is not None):
            return True
        if self._preparing is not None:
            return self._prepare_for(STEP_BUDGET)
        if self.job.poll() is None:
            return False
        if self.job.returncode != 0 or self._load is None:
            return True
        if self._loader is None:
            self._loader = threading.Thread(target=self._load_in_background, daemon=True)
            self._loader.start()
        return not self._loader.is_alive()

    def _prepare_for(self, budget: float) -> bool:
        until = time.perf_counter() + budget
        try:
            next(self._preparing)  # at least one piece per step
            while time.perf_counter() < until:
                next(self._preparing)
        except StopIteration as done:
            self._preparing = None
            self.job = self._start_job(done.value)
        except Exception as error:  # e.g. a full disk: the job ends with it, in one line
            self._preparing = None
            self._load_error = error
            return True
        return False

    def _load_in_background(self) -> None:
        try:
            self._loaded = self._load(self.folder)
        except Exception as error:  # reported by result() on the GUI thread
            self._load_error = error

    def _on_scene_close(self, caller, event) -> None:
        self.scene_closed = True
        self.cancel()

    def cancel(self) -> None:
        self.cancelled = True
        if self._preparing is not None:
            self._preparing.close()  # a half-written input is removed
            self._preparing = None
        if self.job is not None:
            self.job.cancel()

    # -- the result ------------------------------------------------------------------------------
    def result(self):
        """The nodes, once ended; the job's one-line error when it failed."""
        try:
            if self.scene_closed:
                raise ScoreKitError(f"{self._what()}: {SCENE_CLOSED}")
            if self.cancelled:
                raise ScoreKitError(f"{self._what()}: cancelled")
            if self.job is None:  # the hand-over failed
                raise self._load_error
            self.job.check()
            if self._load is None:
                return self._finish(self.folder)
            if self._load_error is not None:
                raise self._load_error
            return self._finish(self._loaded)
        finally:
            self.discard()

    def _what(self) -> str:
        return f"scorekit {self.job.argv[0]}" if self.job is not None else "the job"

    def wait(self, timeout: float | None = None):
        """Block until the job ends, then the result (scripts, tests, self-tests)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.step():
            if deadline is not None and time.monotonic() > deadline:
                self.cancel()
                raise TimeoutError(f"{self._what()} ran past {timeout} s; cancelled")
            time.sleep(0.01)
        if self._loader is not None:
            self._loader.join()
        return self.result()

    def discard(self) -> None:
        if self._observer is not None:
            self._scene.RemoveObserver(self._observer)
            self._observer = None
        if self.returncode is None:
            self.cancel()
        self._folder.cleanup()


def conclude(pending: PendingResult, on_result, report, on_failure=None) -> str:
    """What an ended job comes to, without raising (a raise would skip what the caller does
    next, such as enabling its buttons again): ``"cancelled"`` (by the user, or because the
    scene closed), ``"handled"`` (``on_failure(error)`` returned True), ``"done"``
    (``on_result(nodes)`` ran) or ``"failed"`` (``report(error)`` ran)."""
    if pending.cancelled or pending.scene_closed:
        pending.discard()
        return "cancelled"
    if pending.returncode != 0 and on_failure is not None and on_failure(pending.error):
        pending.discard()
        return "handled"
    try:
        on_result(pending.result())
    except Exception as error:  # shown to the user in one line; the module stays usable
        report(error)
        return "failed"
    return "done"
