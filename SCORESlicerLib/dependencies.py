"""What scorekit needs beyond Slicer's own Python, and how to install it there without
harming Slicer.

The requirements are the repository's ``requirements.txt`` (installed beside this package
in a built extension), the list ``pyproject.toml`` reads too. Versions are checked, not just
that a name imports. torch and torchvision come from light-the-torch, as the PyTorch
extension installs them (it picks the CUDA build); the rest from pip, constrained to the
versions of the packages Slicer ships, so that installing MONAI can never upgrade Slicer's
numpy, SimpleITK, pydicom, VTK or requests.

Standard library only, so the module can check before anything heavy is imported. Every
install step runs in a child process (``install_steps``, ``start_step``); an upgrade of
something already imported asks for a restart (``restart_needed``).
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
# A built extension installs requirements.txt beside this package; a checkout has it above.
REQUIREMENTS_FILES = (HERE / "requirements.txt", HERE.parent / "requirements.txt")
TOTALSEGMENTATOR = "TotalSegmentator>=2.13"  # as pyproject's "totalseg" extra
TORCH_BUILDS = ("torch", "torchvision")  # one build per CUDA version: light-the-torch picks
SHIPPED_BY_SLICER = ("numpy", "scipy", "SimpleITK", "pydicom", "vtk", "requests", "pillow")
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*((?:[<>=!]=?\s*[\w.*+]+\s*,?\s*)*)$")
CLAUSE = re.compile(r"([<>=!]=?)\s*([\w.*+]+)")


def requirements() -> list[str]:
    """The requirement lines of requirements.txt."""
    path = next((p for p in REQUIREMENTS_FILES if p.exists()), None)
    if path is None:
        raise RuntimeError(f"requirements.txt not found beside {HERE} or above it")
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def release(version: str) -> tuple[int, ...]:
    """``"2.14.1+cu128"`` → (2, 14, 1): the numeric release, for comparisons."""
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:4])


def satisfies(version: str, specifier: str) -> bool:
    """``version`` meets every clause of ``specifier`` (``>=1.6,<1.7``; == and != exact)."""
    have = release(version)
    for operator, wanted in CLAUSE.findall(specifier):
        want = release(wanted)
        width = max(len(have), len(want))
        a, b = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
        if not {"==": a == b, "!=": a != b, ">=": a >= b, "<=": a <= b, ">": a > b,
                "<": a < b}[operator]:
            return False
    return True


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def missing_packages(with_totalsegmentator: bool = False) -> list[str]:
    """Requirements this Python does not meet (absent, or at a version outside the range)."""
    wanted = requirements() + ([TOTALSEGMENTATOR] if with_totalsegmentator else [])
    missing = []
    for line in wanted:
        name, specifier = REQUIREMENT.match(line).groups()
        version = installed_version(name)
        if version is None or not satisfies(version, specifier):
            missing.append(line)
    return missing


def name_of(requirement: str) -> str:
    return REQUIREMENT.match(requirement).group(1)


def slicer_constraints() -> str:
    """pip constraints holding every package Slicer ships at the version it has."""
    pins = [f"{name}=={version}" for name in SHIPPED_BY_SLICER
            if (version := installed_version(name)) is not None]
    return "\n".join(pins) + "\n"


LIGHT_THE_TORCH = "light-the-torch>=0.5"  # picks the torch build for the GPU's driver


def install_steps(wanted: list[str], constraints: Path) -> list[list[str]]:
    """The child processes (``python -m ARGV`` each) that install what ``wanted`` names:
    torch and torchvision through light-the-torch, as the PyTorch extension does (the CUDA
    build the driver supports, else the CPU one), then the rest by pip, all held to
    ``constraints`` (``slicer_constraints()`` written to a file)."""
    pip = ["pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
    torch = [r for r in wanted if name_of(r) in TORCH_BUILDS]
    rest = [r for r in wanted if name_of(r) not in TORCH_BUILDS]
    steps = []
    if torch:
        if installed_version("light-the-torch") is None:
            steps.append([*pip, LIGHT_THE_TORCH])
        steps.append(["light_the_torch", "install", "--progress-bar", "off", *torch, "-c",
                      str(constraints)])
    if rest:
        steps.append([*pip, *rest, "-c", str(constraints)])
    return steps


def start_step(argv: list[str], on_log=None):
    """``python -m ARGV`` in a child (Slicer's Python inside Slicer): its output goes to
    ``on_log`` (the module's log box, not the Python console), Cancel ends it, and the
    application stays responsive meanwhile."""
    from scorekit import jobs

    class ModuleJob(jobs.Job):
        @property
        def command(self) -> list[str]:
            return [jobs.python_executable(), "-m", *self.argv]

    return ModuleJob(argv, on_log=on_log).start()


def loaded_versions() -> dict[str, str]:
    """Installed version of every distribution that has a module imported in this process."""
    owners = metadata.packages_distributions()
    loaded = {name.split(".")[0] for name in list(sys.modules)}
    versions = {}
    for module in loaded & set(owners):
        for distribution in owners[module]:
            if (version := installed_version(distribution)) is not None:
                versions[distribution] = version
    return versions


def restart_needed(before: dict[str, str]) -> list[str]:
    """Distributions that were imported at ``before``'s versions and are now installed at
    others: this process still runs the old code until Slicer restarts."""
    return sorted(name for name, version in before.items()
                  if installed_version(name) not in (None, version))


def skip_unless_installed() -> None:
    """First line of a self-test that needs torch and the rest: Slicer's CTest driver loads
    test methods one by one (``unittest.TestLoader``), never through ``runTest``, so each
    heavy test skips itself where they are missing (the extension build machines)."""
    import unittest

    missing = missing_packages()
    if missing:
        raise unittest.SkipTest("not installed: " + ", ".join(missing))
