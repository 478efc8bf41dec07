"""Which Slicer releases the extension supports, checked when a module loads, before any
install is offered.

Slicer 5.10 is the first release whose Python (3.12; 5.6 and 5.8 ship 3.9) can install
MONAI 1.6 and the torch it needs: each supported release's own Python and shipped packages
resolve ``requirements.txt`` with pip's resolver in the tests
(``Testing/extension/test_slicer_releases.py``), and 5.6.2 fails there as it fails in the
application. Standard library only, Python 3.9 syntax: older Slicers must read this file to
say that they are too old.
"""

from __future__ import annotations

import sys

MINIMUM_SLICER = (5, 10)
MINIMUM_PYTHON = (3, 10)  # what scorekit needs (pyproject's requires-python)


def minimum() -> str:
    return ".".join(map(str, MINIMUM_SLICER))


def refusal(slicer_version: tuple, python_version: tuple = tuple(sys.version_info[:2])):
    """One line saying why this Slicer cannot run the extension, or None when it can."""
    if tuple(slicer_version[:2]) >= MINIMUM_SLICER and \
            tuple(python_version[:2]) >= MINIMUM_PYTHON:
        return None
    have = ".".join(str(part) for part in slicer_version)
    return (f"SCORE needs Slicer {minimum()} or later (this is Slicer {have}, Python "
            f"{'.'.join(map(str, python_version[:2]))}): install a current Slicer release.")


def application_refusal():
    """``refusal`` for the running Slicer application (None outside it)."""
    import slicer

    app = getattr(slicer, "app", None)
    if app is None:
        return None
    return refusal((app.majorVersion, app.minorVersion))
