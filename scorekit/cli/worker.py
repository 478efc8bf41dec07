"""``scorekit worker``: verbs sent as JSON lines on stdin (``{"argv": [...]}``), run one at a
time in this one process, so that torch stays imported and models stay loaded between
requests (``scorekit.jobs.Worker``, used by the Slicer modules). Each request's output goes
to stdout as usual and ends with ``{"event": "end", "returncode": N}``; the worker ends
when stdin closes (its front end has gone)."""

from __future__ import annotations

import json
import sys

from scorekit.cli.verbs import VERBS


@VERBS.verb("worker", "run verbs sent as JSON lines on stdin, keeping models loaded",
            lambda parser: None)
def worker(args) -> int:
    from scorekit.cli import main

    for line in sys.stdin:
        if line.strip():
            print(json.dumps({"event": "end", "returncode": run_request(main, line)}),
                  flush=True)
    return 0


def run_request(main, line: str) -> int:
    """One request; nothing in it (bad arguments, a bug) ends the worker."""
    try:
        return main([str(a) for a in json.loads(line)["argv"]])
    except SystemExit as stop:  # argparse refusing the arguments
        return stop.code if isinstance(stop.code, int) else 2
    except Exception as error:  # a bug: say it on one line, keep serving
        print(f"scorekit worker: internal error: {type(error).__name__}: {error}", flush=True)
        return 1
