"""Progress reporting shared by every long verb.

On a terminal a tqdm bar goes to stderr. With ``json_lines=True`` one JSON object per line
goes to stdout instead, ``{"event": "progress", "stage": ..., "done": .., "total": ..}``,
which the Slicer modules (and any other front end) parse; ``log`` lines become
``{"event": "log", "message": ...}``.
"""

from __future__ import annotations

import json
import sys

from tqdm import tqdm


class Progress:
    def __init__(self, json_lines: bool = False, stream=None):
        self.json_lines = json_lines
        self.stream = stream or sys.stdout
        self._bar = None
        self._stage = None
        self._total = 0
        self._done = 0

    def start(self, stage: str, total: int, unit: str = "step") -> None:
        self.close()
        self._stage, self._total, self._done = stage, total, 0
        if self.json_lines:
            self._emit(event="progress", stage=stage, done=0, total=total)
        else:
            self._bar = tqdm(total=total, desc=stage, unit=unit, leave=True, file=sys.stderr,
                             dynamic_ncols=True)

    def advance(self, steps: int = 1, **info) -> None:
        self._done += steps
        if self.json_lines:
            self._emit(event="progress", stage=self._stage, done=self._done, total=self._total,
                       **info)
        elif self._bar is not None:
            self._bar.update(steps)
            if info:
                self._bar.set_postfix(info, refresh=False)

    def log(self, message: str) -> None:
        if self.json_lines:
            self._emit(event="log", message=message)
        elif self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr)

    def step(self, stage: str, total: int, name: str) -> None:
        """One of ``total`` named steps of a short verb (read, segment, write …) done, for a
        front end's progress bar (JSON lines only: on a terminal a bar of three steps
        would only stand between a failing verb and its one-line error)."""
        if not self.json_lines:
            return
        if self._stage != stage:
            self.start(stage, total)
        self.advance(1, step=name)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _emit(self, **record) -> None:
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()


class Silent(Progress):
    """A Progress that reports nothing (library calls, tests)."""

    def start(self, stage: str, total: int, unit: str = "step") -> None:
        pass

    def advance(self, steps: int = 1, **info) -> None:
        pass

    def log(self, message: str) -> None:
        pass
