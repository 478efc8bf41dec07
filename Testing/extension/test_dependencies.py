"""The modules' first-use install: one requirements list (the one pyproject reads), versions
checked, and Slicer's own packages pinned where they are."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

from SCORESlicerLib import dependencies

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_and_the_module_read_the_same_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "dependencies" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["dependencies"] == {
        "file": ["requirements.txt", "requirements-cli.txt"]}
    assert dependencies.TOTALSEGMENTATOR in project["project"]["optional-dependencies"][
        "totalseg"]
    names = [dependencies.name_of(r) for r in dependencies.requirements()]
    assert {"torch", "torchvision", "monai"} <= set(names)
    cmake = (ROOT / "SCORESlicerLib" / "CMakeLists.txt").read_text()
    assert "install(FILES ${PROJECT_SOURCE_DIR}/requirements.txt" in cmake


@pytest.mark.parametrize("version, specifier, ok", [
    ("2.14.1+cu128", ">=2.8", True), ("2.7.9", ">=2.8", False), ("1.6.1", ">=1.6,<1.7", True),
    ("1.7.0", ">=1.6,<1.7", False), ("0.11.0", "==0.11", True), ("2.0", "!=2.0.0", False),
])
def test_versions_are_compared_as_releases(version, specifier, ok):
    assert dependencies.satisfies(version, specifier) is ok


def test_a_missing_or_too_old_package_is_reported_by_its_requirement(tmp_path, monkeypatch):
    listed = tmp_path / "requirements.txt"
    listed.write_text("# comment\nnumpy>=1.0\nnumpy>=999  # too new for anyone\n"
                      "not-a-real-package-xyz>=1\n")
    monkeypatch.setattr(dependencies, "REQUIREMENTS_FILES", (listed,))
    assert dependencies.missing_packages() == ["numpy>=999", "not-a-real-package-xyz>=1"]


def test_what_slicer_ships_is_pinned_at_the_version_installed():
    pins = dict(line.split("==") for line in dependencies.slicer_constraints().split())
    assert pins["numpy"] == dependencies.installed_version("numpy")
    assert set(pins) <= set(dependencies.SHIPPED_BY_SLICER)


@pytest.mark.parametrize("module", ["SCORERefineLib.logic", "WeakStatSegLib.logic",
                                    "SCORESlicerLib.pending", "SCORESlicerLib.dependencies"])
def test_the_module_logic_imports_without_torch_monai_or_scipy(module):
    """In a fresh interpreter, as Slicer imports it on entering the module."""
    import subprocess
    import sys

    pytest.importorskip("slicer", reason="slicer-core is a test dependency")
    paths = [str(ROOT), str(ROOT / "SCORERefine"), str(ROOT / "WeakStatSeg")]
    script = (f"import sys; sys.path[:0] = {paths!r}\n"
              f"import {module}\n"
              "print(sorted(m for m in ('torch', 'monai', 'scipy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


COMMAND_LINE_ONLY = ("matplotlib", "fastapi", "uvicorn", "pydantic")


def test_the_install_into_slicer_leaves_out_what_only_the_command_line_uses():
    names = {dependencies.name_of(r).lower() for r in dependencies.requirements()}
    assert not names & set(COMMAND_LINE_ONLY)


def test_the_verbs_the_modules_run_need_none_of_the_command_line_only_packages():
    """With those packages unimportable, scorekit's command line still builds and the
    modules' logic and the verbs they run import (their heavy imports included)."""
    import subprocess
    import sys

    pytest.importorskip("slicer", reason="slicer-core is a test dependency")
    paths = [str(ROOT), str(ROOT / "SCORERefine"), str(ROOT / "WeakStatSeg")]
    script = (f"import sys; sys.path[:0] = {paths!r}\n"
              f"for name in {COMMAND_LINE_ONLY!r}: sys.modules[name] = None\n"
              "import scorekit.cli, scorekit.cli.worker, scorekit.score.refine\n"
              "import scorekit.weakstat.train, SCORERefineLib.logic, WeakStatSegLib.logic\n"
              "scorekit.cli.build_parser()\n"
              "print('ok')")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": ""})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


def test_a_heavy_self_test_skips_when_the_loader_runs_it_without_the_packages(
        tmp_path, monkeypatch):
    import unittest

    listed = tmp_path / "requirements.txt"
    listed.write_text("not-a-real-package-xyz>=1\n")
    monkeypatch.setattr(dependencies, "REQUIREMENTS_FILES", (listed,))

    class SelfTest(unittest.TestCase):
        def test_heavy(self):
            dependencies.skip_unless_installed()
            raise AssertionError("ran without its packages")

    suite = unittest.TestLoader().loadTestsFromTestCase(SelfTest)
    result = unittest.TestResult()
    suite.run(result)
    assert result.wasSuccessful() and len(result.skipped) == 1
    assert result.skipped[0][1] == "not installed: not-a-real-package-xyz>=1"


def test_torch_comes_from_light_the_torch_and_the_rest_from_pip_under_slicers_pins(tmp_path):
    pins = tmp_path / "pins.txt"
    steps = dependencies.install_steps(["torch>=2.8", "monai>=1.6,<1.7", "tqdm>=4.60"], pins)
    *torch, rest = steps
    if dependencies.installed_version("light-the-torch") is None:
        assert torch[0][:2] == ["pip", "install"] and torch[0][-1] == dependencies.LIGHT_THE_TORCH
    assert torch[-1][:2] == ["light_the_torch", "install"] and "torch>=2.8" in torch[-1]
    assert torch[-1][-2:] == ["-c", str(pins)]  # torchvision's needs held to Slicer's too
    assert rest[:2] == ["pip", "install"] and rest[-2:] == ["-c", str(pins)]
    assert "monai>=1.6,<1.7" in rest and not any(a.startswith("torch") for a in rest)
    assert not any(dependencies.name_of(r) in dependencies.TORCH_BUILDS
                   for r in rest[4:-2])  # torch never by plain pip
    pip_only = [*rest[:-4], "monai>=1.6", "-c", str(pins)]  # no torch: pip alone
    assert dependencies.install_steps(["monai>=1.6"], pins) == [pip_only]


def test_each_install_step_runs_in_a_child_whose_output_goes_to_the_log(capfd):
    lines = []
    job = dependencies.start_step(["pip", "--version"], on_log=lines.append)
    assert job.wait(timeout=120) == 0, job.error
    assert lines and lines[-1].startswith("pip ")
    assert "pip " not in capfd.readouterr().out


def test_an_upgrade_of_an_imported_package_asks_for_a_restart():
    import numpy  # noqa: F401  (imported: its version is what this process runs)

    before = dependencies.loaded_versions()
    assert before["numpy"] == dependencies.installed_version("numpy")
    assert dependencies.restart_needed(before) == []
    assert dependencies.restart_needed(before | {"numpy": "0.0.1"}) == ["numpy"]


def test_the_modules_never_run_pip_in_slicers_own_process():
    sources = [p.read_text() for folder in ("SCORERefine", "WeakStatSeg", "SCORESlicerLib")
               for p in (ROOT / folder).rglob("*.py")]
    assert not any("pip_install" in s or "pip_ensure" in s for s in sources)
    assert not any("installTorch" in s or "_executePythonModule" in s for s in sources)
    assert "dependencies.start_step(" in (ROOT / "SCORESlicerLib" / "widget.py").read_text()
