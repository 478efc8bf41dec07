"""The Python a Slicer release ships: its version and the packages in it, read from Slicer's
sources at the release's tag and recorded in ``slicer-python-<version>.json``.

Record (from a git clone of github.com/Slicer/Slicer with its release tags)::

    python Testing/extension/slicer_python.py SLICER_GIT_DIR v5.10.0

Sources: ``Slicer_REQUIRED_PYTHON_VERSION`` in the top CMakeLists.txt; the pinned
requirements (``name==version``) of ``SuperBuild/External_python-*.cmake``; SimpleITK and
VTK, which releases before 5.12 build from Slicer's forks, from the version their git tag's
comment names (``slicer-v2.2.1-...``, ``slicer-v9.2.20230607-...``), VTK's of the default
minor version.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9_.-]*)==([0-9][\w.]*)", re.M)
FORK_TAG = re.compile(r"#\s*slicer-(?:[\d.]+-)?v(\d+\.\d+\.\d+)")


def _show(repo: Path, tag: str, path: str) -> str:
    return subprocess.run(["git", f"--git-dir={repo}", "show", f"{tag}:{path}"],
                          capture_output=True, text=True, check=True).stdout


def python_version(cmake: str) -> str:
    return re.search(r'set\(Slicer_REQUIRED_PYTHON_VERSION "([\d.]+)"\)', cmake).group(1)


def vtk_version(repo: Path, tag: str, cmake: str) -> str:
    """The VTK of the release's default minor version (9.2 where it has no choice)."""
    minor = re.search(r'set\(_default_vtk_minor_version "(\d+)"\)', cmake)
    external = _show(repo, tag, "SuperBuild/External_VTK.cmake")
    versions = FORK_TAG.findall(external)
    chosen = [v for v in versions if minor is None or v.startswith(f"9.{minor.group(1)}.")]
    return chosen[-1]


def record(repo: Path, tag: str) -> Path:
    files = subprocess.run(["git", f"--git-dir={repo}", "ls-tree", "--name-only", tag,
                            "SuperBuild/"], capture_output=True, text=True,
                           check=True).stdout.split()
    cmake = _show(repo, tag, "CMakeLists.txt")
    packages = {}
    for path in sorted(f for f in files if re.search(r"/External_python-.*\.cmake$", f)):
        for name, version in PIN.findall(_show(repo, tag, path)):
            packages[name.lower().replace("_", "-")] = version
    if "SuperBuild/External_SimpleITK.cmake" in files:  # built from Slicer's fork
        fork = FORK_TAG.search(_show(repo, tag, "SuperBuild/External_SimpleITK.cmake"))
        packages["simpleitk"] = fork.group(1)
    packages["vtk"] = vtk_version(repo, tag, cmake)
    out = HERE / f"slicer-python-{tag.lstrip('v')}.json"
    out.write_text(json.dumps({"version": tag.lstrip("v"), "python": python_version(cmake),
                               "packages": dict(sorted(packages.items()))}, indent=1) + "\n")
    return out


if __name__ == "__main__":
    print(record(Path(sys.argv[1]), sys.argv[2]))
