"""Qt glue shared by the modules' widgets: one running job per module, shown in one place
(a progress bar, a time label, a log box); the button that started it turns into Cancel.
(The one Qt piece of this package; only widgets import it.)"""

from __future__ import annotations

import time

import qt


def clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}"


class JobPanel:
    """``start(start_job, button, on_finished)``: ``start_job(on_progress, on_log)`` starts
    and returns a ``scorekit.jobs.Job`` or a ``PendingResult`` (polled the same way, each
    poll one short step of its work); ``on_finished(job)`` runs when it ends."""

    def __init__(self, progress_bar, time_label, log_box):
        self.progress_bar, self.time_label, self.log_box = progress_bar, time_label, log_box
        self.job = self.button = None
        self._button_text = ""
        self._on_finished = None
        self._started = 0.0
        self.timer = qt.QTimer()
        self.timer.setInterval(20)  # a job's GUI-side steps (hand-over) come this often
        self.timer.connect("timeout()", self.poll)

    @property
    def busy(self) -> bool:
        return self.job is not None

    def start(self, start_job, button, on_finished) -> None:
        self.log_box.clear()
        self.progress_bar.value = 0
        self.time_label.text = ""
        self.job = start_job(self.show_progress, self.log)
        self.button, self._button_text, self._on_finished = button, button.text, on_finished
        self._started = time.monotonic()
        button.text = "Cancel"
        self.timer.start()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def poll(self) -> None:
        if self.job is None:
            return
        if self.job.poll() is None:
            state = self.job.state
            if not state.total:  # a verb without progress steps: its stage, elapsed time
                stage = f"{state.stage}: " if state.stage else ""
                self.time_label.text = (f"{stage}{clock(time.monotonic() - self._started)} "
                                        "elapsed")
            return
        self.timer.stop()
        job, self.job = self.job, None
        self.button.text = self._button_text
        self._on_finished(job)

    def show_progress(self, state) -> None:
        self.progress_bar.value = int(100 * state.fraction)
        text = (f"{state.stage}: {state.done} / {state.total}, {clock(state.elapsed)} elapsed")
        if state.remaining is not None:
            text += f", {clock(state.remaining)} remaining"
        self.time_label.text = text

    def log(self, line: str) -> None:
        self.log_box.appendPlainText(line)
