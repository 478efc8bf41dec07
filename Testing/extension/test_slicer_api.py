"""Every Slicer class, method and Python helper the modules use exists in the oldest and in
the newest Slicer release the extension supports (each recorded from its sources in
``slicer-api-<version>.json`` by ``slicer_api.py``). A call is refused when its name is one
the newest Slicer's headers declare and that release's do not, or when a Slicer class of
``slicer-core`` defines it and that release does not; VTK's and Qt's own methods pass."""

from __future__ import annotations

import json

import pytest
from slicer_api import HERE, PYTHON_MODULES, ROOT, calls, slicer_side_sources

from SCORESlicerLib import compat

OLDEST, NEWEST = "5.10.0", "5.12.3"


def recorded(version: str) -> dict:
    api = json.loads((HERE / f"slicer-api-{version}.json").read_text())
    assert api["version"] == version
    return api


@pytest.fixture(scope="module")
def oldest_api() -> dict:
    return recorded(OLDEST)


@pytest.fixture(scope="module")
def slicer_methods() -> set[str]:
    """Methods that Slicer's own classes define (in the slicer-core release installed)."""
    slicer = pytest.importorskip("slicer", reason="slicer-core is a test dependency")
    names = set()
    for attribute in dir(slicer):
        cls = getattr(slicer, attribute)
        if attribute.startswith(("vtkMRML", "vtkSegment", "vtkSlicer", "vtkOriented")) \
                and isinstance(cls, type):
            names |= {k for k in vars(cls) if k[:1].isupper()}
    return names


def unknown_calls(path, api, slicer_methods) -> list[str]:
    found = calls(path)
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    newer = set(api["added_after"])
    problems = [f"{where}:{line}: {name}() is not in Slicer {api['version']}"
                for name, line in found["all_methods"]
                if name in newer or (name in slicer_methods and name not in api["methods"])]
    problems += [f"{where}:{line}: class {name} is not in Slicer {api['version']}"
                 for name, line in found["classes"] if name not in api["classes"]]
    for module in PYTHON_MODULES:
        problems += [f"{where}:{line}: {module}.{name} is not in Slicer {api['version']}"
                     for name, line in found.get(module, ()) if name not in api["python"][module]]
    return problems


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
def test_the_modules_call_only_what_each_supported_slicer_has(version, slicer_methods):
    api = recorded(version)
    problems = [p for path in slicer_side_sources()
                for p in unknown_calls(path, api, slicer_methods)]
    assert not problems, "\n".join(problems)


def test_the_check_catches_what_came_after_the_oldest_release(oldest_api, slicer_methods,
                                                              tmp_path):
    newer = tmp_path / "newer.py"
    newer.write_text("from slicer.util import pip_ensure\n\n"
                     "def f(node):\n    return node.GetLineDirectionVisibility()\n")
    problems = unknown_calls(newer, oldest_api, slicer_methods)
    assert [p.split(": ", 1)[1] for p in problems] == [
        f"GetLineDirectionVisibility() is not in Slicer {OLDEST}",
        f"slicer.util.pip_ensure is not in Slicer {OLDEST}"]
    assert "GetLineDirectionVisibility" in oldest_api["added_after"]


def test_the_oldest_release_checked_is_the_one_the_extension_declares():
    assert tuple(int(p) for p in OLDEST.split(".")[:2]) == compat.MINIMUM_SLICER
    declared = f"Slicer {compat.minimum()} or later"
    assert declared in (ROOT / "CMakeLists.txt").read_text()
    assert declared in (ROOT / "SCORE.s4ext").read_text()
