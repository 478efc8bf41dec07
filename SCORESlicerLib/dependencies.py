"""What scorekit needs beyond Slicer's own Python, and how to install it there without
harming Slicer.

The requirements are the repository's ``requirements.txt`` (installed beside this package
in a built extension), the list ``pyproject.toml`` reads too. Versions are checked, not just
that a name imports. torch and torchvision come from the PyTorch extension (it picks the
CUDA build); the rest from pip, constrained to the versions of the packages Slicer ships, so
that installing MONAI can never upgrade Slicer's numpy, SimpleITK, pydicom, VTK or requests.

Standard library only, so the module can check before anything heavy is imported.
"""

from __future__ import annotations

import importlib.util
import re
import tempfile
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
# A built extension installs requirements.txt beside this package; a checkout has it above.
REQUIREMENTS_FILES = (HERE / "requirements.txt", HERE.parent / "requirements.txt")
TOTALSEGMENTATOR = "TotalSegmentator>=2.13"  # as pyproject's "totalseg" extra
FROM_PYTORCH_EXTENSION = ("torch", "torchvision")
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


def install_packages(wanted: list[str]) -> None:
    """torch and torchvision through the PyTorch extension, the rest with pip under the
    constraints of what Slicer ships."""
    import slicer

    torch = [r for r in wanted if name_of(r) in FROM_PYTORCH_EXTENSION]
    rest = [r for r in wanted if name_of(r) not in FROM_PYTORCH_EXTENSION]
    if torch:
        try:
            import PyTorchUtils
        except ImportError:
            raise RuntimeError("PyTorch is missing: install the PyTorch extension from the "
                               "Extensions Manager, restart Slicer, then retry") from None
        ranges = {name_of(r): REQUIREMENT.match(r).group(2) for r in requirements()}
        logic = PyTorchUtils.PyTorchUtilsLogic()
        if logic.installTorch(askConfirmation=False, torchVersionRequirement=ranges["torch"],
                              torchvisionVersionRequirement=ranges["torchvision"]) is None:
            raise RuntimeError("PyTorch could not be installed by the PyTorch extension")
    if rest:
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
            constraints.write(slicer_constraints())
        try:
            if importlib.util.find_spec("slicer.packaging") is not None:  # Slicer 5.12 on
                from slicer.packaging import pip_ensure

                pip_ensure(rest, constraints=constraints.name, prompt_install=False,
                           requester="SCORE")
            else:
                slicer.util.pip_install([*rest, "-c", constraints.name])
        finally:
            Path(constraints.name).unlink(missing_ok=True)


def skip_unless_installed() -> None:
    """First line of a self-test that needs torch and the rest: Slicer's CTest driver loads
    test methods one by one (``unittest.TestLoader``), never through ``runTest``, so each
    heavy test skips itself where they are missing (the extension build machines)."""
    import unittest

    missing = missing_packages()
    if missing:
        raise unittest.SkipTest("not installed: " + ", ".join(missing))
