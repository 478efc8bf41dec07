"""pip against PyPI itself, for the tests that read what PyPI really offers (the resolver
check of each supported Slicer release, the TotalSegmentator versions): this machine's pip
configuration (local indexes, global constraints) is left out, and the tests skip when
PyPI cannot be reached."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import urllib.request

import pytest

INDEX = "https://pypi.org/simple"


@functools.cache
def reachable() -> bool:
    try:
        with urllib.request.urlopen(f"{INDEX}/pip/", timeout=10) as response:
            return response.status == 200
    except OSError:
        return False


def needs_pypi():
    if not reachable():
        pytest.skip(f"{INDEX} cannot be reached")


def pip(*args, timeout: float = 150) -> subprocess.CompletedProcess:
    """``python -m pip ARGS`` with PyPI as the only index and no local configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    return subprocess.run([sys.executable, "-m", "pip", *map(str, args), "--index-url", INDEX],
                          capture_output=True, text=True, env=env, timeout=timeout)
