"""Which Slicer releases the extension supports, proven with pip's own resolver: for each
release recorded from Slicer's sources (``slicer-python-<version>.json``, by
``slicer_python.py``), ``requirements.txt`` is resolved for that release's Python and
platforms with every package the release ships held at its version. The releases that
``SCORESlicerLib.compat`` accepts must resolve; an older one must fail as it fails in the
application."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from pypi import needs_pypi, pip

from SCORESlicerLib import compat, dependencies

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RELEASES = {json.loads(p.read_text())["version"]: json.loads(p.read_text())
            for p in sorted(HERE.glob("slicer-python-*.json"))}
# The wheel tags a Linux Slicer loads (glibc 2.28; pip matches the legacy aliases only by
# name). Linux only: pip evaluates environment markers (torch's CUDA packages, "Linux") for
# the machine it runs on, whatever --platform says, so other systems cannot be resolved here.
LINUX = [f"manylinux_2_{m}_x86_64" for m in range(5, 29)] + [
    f"manylinux{alias}_x86_64" for alias in ("1", "2010", "2014")] + ["linux_x86_64"]
# Build tools, not runtime packages, and what a user may well have upgraded.
NOT_HELD = {"pip", "setuptools", "wheel"}


def version_of(release: str) -> tuple[int, ...]:
    return tuple(int(p) for p in release.split("."))


def supported(release: str) -> bool:
    info = RELEASES[release]
    return compat.refusal(version_of(release), version_of(info["python"])) is None


def resolve(release: str, tmp_path: Path):
    info = RELEASES[release]
    held = tmp_path / "slicer-ships.txt"
    held.write_text("".join(f"{name}=={version}\n" for name, version in info["packages"].items()
                            if name not in NOT_HELD))
    python = ".".join(info["python"].split(".")[:2])
    platforms = [arg for tag in LINUX for arg in ("--platform", tag)]
    return pip("install", "--dry-run", "--ignore-installed", "--only-binary=:all:",
               "--python-version", python, *platforms, "-r", ROOT / "requirements.txt",
               "-c", held, timeout=300)


def test_the_recorded_releases_include_the_oldest_and_newest_supported():
    assert {"5.6.2", "5.10.0", "5.12.3"} <= set(RELEASES)
    assert [r for r in RELEASES if supported(r)] == ["5.10.0", "5.12.3"]
    assert RELEASES["5.6.2"]["python"] == "3.9.10"
    assert RELEASES["5.6.2"]["packages"]["simpleitk"] == "2.2.1"


@pytest.mark.slow
@pytest.mark.parametrize("release", [r for r in RELEASES if supported(r)])
def test_a_supported_release_resolves_the_requirements(release, tmp_path):
    needs_pypi()
    result = resolve(release, tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "Would install" in result.stdout


@pytest.mark.slow
def test_the_oldest_release_once_named_cannot_resolve_them(tmp_path):
    """5.6.2's Python 3.9 and SimpleITK 2.2.1: the failure users met after the download."""
    needs_pypi()
    assert not supported("5.6.2")
    result = resolve("5.6.2", tmp_path)
    assert result.returncode != 0
    assert "ResolutionImpossible" in result.stderr or "No matching distribution" in \
        result.stderr, result.stderr[-3000:]
    assert "Would install" not in result.stdout


def test_an_old_slicer_is_refused_in_one_line_naming_the_minimum():
    line = compat.refusal((5, 8, 1), (3, 9))
    assert line == ("SCORE needs Slicer 5.10 or later (this is Slicer 5.8.1, Python 3.9): "
                    "install a current Slicer release.")
    assert compat.refusal((5, 10), (3, 12)) is None
    assert compat.refusal((6, 0), (3, 12)) is None


@pytest.mark.parametrize("module", ["SCORERefine", "WeakStatSeg"])
def test_the_refusal_comes_before_anything_an_old_slicer_cannot_run(module):
    """The check is the first shared import, and every file read up to it (and the module
    file itself) parses as Python 3.9, the Python of Slicer 5.6 and 5.8."""
    source = (ROOT / module / f"{module}.py").read_text()
    imports = [line for line in source.splitlines() if re.match(r"from (scorekit|SCORE)", line)]
    assert imports[0] == "from SCORESlicerLib import compat  # before anything an old Slicer " \
                         "cannot run"
    assert "if self.showRefusal(REFUSAL):" in source
    loaded = [ROOT / module / f"{module}.py", ROOT / "SCORESlicerLib" / "compat.py",
              *(ROOT / "SCORESlicerLib" / f"{name}.py" for name in
                ("__init__", "dependencies", "jobpanel", "widget", "pending")),
              *(ROOT / "scorekit" / f"{name}.py" for name in
                ("__init__", "registry", "jobs", "errors"))]
    for path in loaded:
        ast.parse(path.read_text(), feature_version=(3, 9))


def test_the_module_pins_what_every_supported_release_ships():
    """The install holds Slicer's own packages at the installed version."""
    shipped = set.intersection(*(set(RELEASES[r]["packages"]) for r in RELEASES if supported(r)))
    wanted = {dependencies.name_of(r).lower() for r in dependencies.requirements()}
    held = {name.lower() for name in dependencies.SHIPPED_BY_SLICER}
    assert (wanted & shipped) <= held, sorted((wanted & shipped) - held)


def test_the_documents_state_the_minimum_release():
    declared = f"Slicer {compat.minimum()} or later"
    for document in ("CMakeLists.txt", "SCORE.s4ext", "docs/slicer.md", "README.md"):
        assert declared in (ROOT / document).read_text(), document
    for document in ("CMakeLists.txt", "SCORE.s4ext", "docs/slicer.md"):
        assert "5.6.2 or later" not in (ROOT / document).read_text(), document
