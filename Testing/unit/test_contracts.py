"""The layering rules, checked on the import graph (every import statement, including the
ones inside functions), so that a forbidden import fails the suite.

Layers, bottom up: base (errors, registry, metrics, progress, devices, weights, jobs) →
data → initial segmenters, synthetic data → methods (score, baselines, weakstat) →
experiments → front ends (cli, web). The Slicer side (the modules and SCORESlicerLib)
sits on top and never loads torch, MONAI or scipy into Slicer's process.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASE = {"scorekit", "scorekit.errors", "scorekit.registry", "scorekit.metrics",
        "scorekit.progress", "scorekit.devices", "scorekit.weights", "scorekit.jobs"}
ABOVE_METHODS = ("scorekit.workflows", "scorekit.experiments", "scorekit.web", "scorekit.cli")
# (importer, what it must not import, why)
FORBIDDEN = [
    ("scorekit.data", ("scorekit.initial", "scorekit.synth", "scorekit.score",
                       "scorekit.baselines", "scorekit.weakstat", *ABOVE_METHODS),
     "the data layer imports nothing above it"),
    ("scorekit.initial", ("scorekit.synth", "scorekit.score", "scorekit.baselines",
                          "scorekit.weakstat", *ABOVE_METHODS),
     "initial segmenters sit below the methods"),
    ("scorekit.synth", ("scorekit.initial", "scorekit.score", "scorekit.baselines",
                        "scorekit.weakstat", *ABOVE_METHODS),
     "synthetic data sits below the methods"),
    ("scorekit.score", ("scorekit.weakstat", "scorekit.baselines", *ABOVE_METHODS),
     "SCORE is independent of WeakStatSeg and of its comparators"),
    ("scorekit.weakstat", ("scorekit.score", "scorekit.baselines", *ABOVE_METHODS),
     "WeakStatSeg is independent of SCORE"),
    ("scorekit.baselines", ("scorekit.weakstat", *ABOVE_METHODS),
     "methods never import experiments or front ends"),
    ("scorekit.workflows", ("scorekit.experiments", "scorekit.web", "scorekit.cli"),
     "workflows sit below the front ends"),
    ("scorekit.experiments", ("scorekit.web", "scorekit.cli"),
     "experiments sit below the front ends"),
    ("scorekit.web", ("scorekit.cli", "scorekit.experiments", "scorekit.score",
                      "scorekit.weakstat", "scorekit.baselines"),
     "the web form rates; it runs no method"),
    ("scorekit", ("slicer", "qt", "vtk", "ctk", "SCORESlicerLib", "SCORERefineLib",
                  "WeakStatSegLib"), "the backend runs without Slicer"),
]
BASE_MAY_IMPORT = BASE  # base modules import only each other
SLICER_SIDE_FORBIDDEN = ("torch", "monai", "scipy")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, top_level_only: bool = False, root: Path = ROOT) -> set[str]:
    """Absolute names of the modules ``path`` imports (``from a import b`` gives a and a.b)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else ast.walk(tree)
    names = set()
    own = module_name(path, root)
    package = own if path.name == "__init__.py" else own.rsplit(".", 1)[0]
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}
    return names


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


BACKEND = sorted((ROOT / "scorekit").rglob("*.py"))
SLICER_SIDE = sorted([*(ROOT / "SCORESlicerLib").glob("*.py"),
                      *(ROOT / "SCORERefine").rglob("*.py"), *(ROOT / "WeakStatSeg").rglob("*.py")])


def violations(files=BACKEND, root: Path = ROOT) -> list[str]:
    found = []
    for path in files:
        importer = module_name(path, root)
        for imported in imports(path, root=root):
            for layer, banned, why in FORBIDDEN:
                if within(importer, layer) and any(within(imported, b) for b in banned):
                    found.append(f"{importer} imports {imported}: {why}")
            if importer in BASE and within(imported, "scorekit") and not any(
                    imported == b or imported.startswith(b + ".") for b in BASE_MAY_IMPORT):
                found.append(f"{importer} imports {imported}: base modules import only "
                             "each other")
    return sorted(set(found))


def test_the_backend_keeps_its_layers():
    assert violations() == []


@pytest.mark.parametrize("path", SLICER_SIDE, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_slicer_side_code_never_imports_torch_monai_or_scipy(path):
    direct = [n for n in imports(path) if any(within(n, b) for b in SLICER_SIDE_FORBIDDEN)]
    assert direct == []


def _backend_module_path(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def loaded_on_import(path: Path) -> set[str]:
    """Every module importing ``path`` loads: top-level imports, followed through scorekit."""
    seen, todo, found = set(), [path], set()
    while todo:
        current = todo.pop()
        for name in imports(current, top_level_only=True):
            found.add(name)
            module = _backend_module_path(name) if within(name, "scorekit") else None
            if module is not None and module not in seen:
                seen.add(module)
                todo.append(module)
    return found


@pytest.mark.parametrize("path", [ROOT / "SCORERefine" / "SCORERefineLib" / "logic.py",
                                  ROOT / "WeakStatSeg" / "WeakStatSegLib" / "logic.py",
                                  ROOT / "SCORERefine" / "SCORERefine.py",
                                  ROOT / "WeakStatSeg" / "WeakStatSeg.py"],
                         ids=lambda p: p.name)
def test_importing_the_slicer_logic_loads_no_torch_monai_or_scipy(path):
    heavy = sorted(n for n in loaded_on_import(path)
                   if any(within(n, b) for b in SLICER_SIDE_FORBIDDEN))
    assert heavy == []


def test_the_contract_check_catches_a_forbidden_import(tmp_path):
    """The check itself can fail: a data module that imports the SCORE trainer is caught."""
    (tmp_path / "scorekit" / "data").mkdir(parents=True)
    bad = tmp_path / "scorekit" / "data" / "bad.py"
    bad.write_text("def f():\n    from scorekit.score.trainer import train\n")
    found = violations([bad], root=tmp_path)
    assert found and all(v.startswith("scorekit.data.bad imports scorekit.score.trainer")
                         for v in found)
    assert "the data layer imports nothing above it" in found[0]


def test_the_command_line_builds_its_parser_without_torch():
    """Quick verbs (``workspace list``, ``ratings``) start in well under a second: listing
    every verb's options loads no torch."""
    import subprocess
    import sys

    probe = ("import sys; from scorekit.cli import build_parser; build_parser(); "
             "print(sorted(m for m in ('torch', 'monai', 'scipy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"
