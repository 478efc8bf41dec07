"""A ``scorekit`` child that writes into a temporary folder, and what turns its output into
scene nodes once it has succeeded. The child runs while Slicer's event loop goes on (the
job panel polls it); the nodes are made afterwards on the main thread, since the scene is
not thread-safe. Scripts and tests call ``wait()`` instead."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from scorekit import jobs


class PendingResult:
    """``prepare(folder)`` writes the inputs and returns the verb's argv; ``finish(folder)``
    reads the outputs into nodes. The verb runs in a child of its own, or as a request to
    a ``worker`` kept warm between calls. The folder is removed when the result is taken or
    discarded."""

    def __init__(self, prepare: Callable[[Path], list], finish: Callable[[Path], object],
                 on_progress=None, on_log=None, worker: jobs.Worker | None = None):
        self._folder = tempfile.TemporaryDirectory(prefix="score-slicer-")
        self._finish = finish
        try:
            argv = prepare(Path(self._folder.name))
            self.job = (worker.request(argv, on_progress, on_log) if worker is not None else
                        jobs.Job(argv, on_progress=on_progress, on_log=on_log).start())
        except BaseException:
            self._folder.cleanup()
            raise

    def result(self):
        """The nodes, once the job has ended; its one-line error when it failed."""
        try:
            self.job.check()
            return self._finish(Path(self._folder.name))
        finally:
            self.discard()

    def wait(self, timeout: float | None = None):
        """Block until the job ends, then the result (scripts, tests, self-tests)."""
        self.job.wait(timeout)
        return self.result()

    def discard(self) -> None:
        self.job.cancel()
        self._folder.cleanup()
