"""Qt glue shared by the modules' widgets: a Start/Cancel button, a progress bar, a time
label and a log box following a ``scorekit.jobs.Job``. (The one Qt piece of this package;
only widgets import it.)"""

from __future__ import annotations

import qt


def clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}"


class JobPanel:
    """Runs one job at a time; ``on_finished(job)`` is called when it ends."""

    def __init__(self, button, progress_bar, time_label, log_box, start_text: str,
                 on_finished):
        self.button, self.progress_bar = button, progress_bar
        self.time_label, self.log_box = time_label, log_box
        self.start_text = start_text
        self.on_finished = on_finished
        self.job = None
        self.timer = qt.QTimer()
        self.timer.setInterval(200)
        self.timer.connect("timeout()", self.poll)

    @property
    def busy(self) -> bool:
        return self.job is not None

    def start(self, start_job) -> None:
        """``start_job(on_progress, on_log)`` must start and return a Job."""
        self.log_box.clear()
        self.progress_bar.value = 0
        self.time_label.text = ""
        self.job = start_job(self.show_progress, self.log)
        self.button.text = "Cancel"
        self.timer.start()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def poll(self) -> None:
        if self.job is None or self.job.poll() is None:
            return
        self.timer.stop()
        job, self.job = self.job, None
        self.button.text = self.start_text
        self.on_finished(job)

    def show_progress(self, state) -> None:
        self.progress_bar.value = int(100 * state.fraction)
        text = (f"{state.stage}: {state.done} / {state.total}, {clock(state.elapsed)} elapsed")
        if state.remaining is not None:
            text += f", {clock(state.remaining)} remaining"
        self.time_label.text = text

    def log(self, line: str) -> None:
        self.log_box.appendPlainText(line)
