"""A ``scorekit`` child that writes into a temporary folder, and what turns its output into
scene nodes once it has succeeded. The child runs while Slicer's event loop goes on (the
job panel polls it); the nodes are made afterwards on the main thread, since the scene is
not thread-safe. Scripts and tests call ``wait()`` instead.

A result belongs to the scene it was started in: closing that scene (the next patient)
cancels the child and drops its output, so it never lands in the next patient's scene."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import slicer

from scorekit import jobs
from scorekit.errors import ScoreKitError

SCENE_CLOSED = "the scene was closed while it ran; its result was dropped"


class PendingResult:
    """``prepare(folder)`` writes the inputs and returns the verb's argv; ``finish(folder)``
    reads the outputs into nodes. The verb runs in a child of its own, or as a request to
    a ``worker`` kept warm between calls. The folder is removed when the result is taken or
    discarded."""

    def __init__(self, prepare: Callable[[Path], list], finish: Callable[[Path], object],
                 on_progress=None, on_log=None, worker: jobs.Worker | None = None):
        self._folder = tempfile.TemporaryDirectory(prefix="score-slicer-")
        self._finish = finish
        self.scene_closed = False
        self._scene = slicer.mrmlScene
        self._observer = self._scene.AddObserver(slicer.vtkMRMLScene.StartCloseEvent,
                                                 self._on_scene_close)
        try:
            argv = prepare(Path(self._folder.name))
            self.job = (worker.request(argv, on_progress, on_log) if worker is not None else
                        jobs.Job(argv, on_progress=on_progress, on_log=on_log).start())
        except BaseException:
            self._stop_observing()
            self._folder.cleanup()
            raise

    def _on_scene_close(self, caller, event) -> None:
        self.scene_closed = True
        self.job.cancel()

    def _stop_observing(self) -> None:
        if self._observer is not None:
            self._scene.RemoveObserver(self._observer)
            self._observer = None

    def result(self):
        """The nodes, once the job has ended; its one-line error when it failed."""
        try:
            if self.scene_closed:
                raise ScoreKitError(f"scorekit {self.job.argv[0]}: {SCENE_CLOSED}")
            self.job.check()
            return self._finish(Path(self._folder.name))
        finally:
            self.discard()

    def wait(self, timeout: float | None = None):
        """Block until the job ends, then the result (scripts, tests, self-tests)."""
        self.job.wait(timeout)
        return self.result()

    def discard(self) -> None:
        self._stop_observing()
        self.job.cancel()
        self._folder.cleanup()


def conclude(pending: PendingResult, on_result, report, on_failure=None) -> str:
    """What an ended job comes to, without raising (a raise would skip what the caller does
    next, such as enabling its buttons again): ``"cancelled"`` (by the user, or because the
    scene closed), ``"handled"`` (``on_failure(error)`` returned True), ``"done"``
    (``on_result(nodes)`` ran) or ``"failed"`` (``report(error)`` ran)."""
    job = pending.job
    if job.cancelled or pending.scene_closed:
        pending.discard()
        return "cancelled"
    if job.returncode != 0 and on_failure is not None and on_failure(job.error):
        pending.discard()
        return "handled"
    try:
        on_result(pending.result())
    except Exception as error:  # shown to the user in one line; the module stays usable
        report(error)
        return "failed"
    return "done"
