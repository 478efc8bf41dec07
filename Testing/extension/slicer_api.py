"""The Slicer API the modules may call: recorded from Slicer's sources at the oldest
supported release, and the calls the modules make.

Record (from a git clone of github.com/Slicer/Slicer with its release tags)::

    python Testing/extension/slicer_api.py SLICER_GIT_DIR v5.6.2

writes ``Testing/extension/slicer-api-<version>.json``: every C++ class name, every method a
header of MRML, the segmentation core, the application's Qt base, the Segmentations /
Volumes / Terminologies / Markups modules or the MRML widgets declares (VTK's Get/Set/Boolean
macros expanded), the names the newest Slicer (``main``) declares there and that release
does not, and the names that ``slicer.util``, ``slicer.i18n``,
``slicer.ScriptedLoadableModule`` and ``slicer.parameterNodeWrapper`` define.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SLICER_SIDE = ["SCORERefine", "WeakStatSeg", "SCORESlicerLib"]
HEADER_FOLDERS = re.compile(
    r"^(Libs/MRML/(Core|Widgets|Logic)|Libs/vtkSegmentationCore|Base/(QTGUI|QTCore)"
    r"|Modules/Loadable/(Segmentations|Volumes|Terminologies|Markups)/(Logic|MRML|Widgets))"
    r"/[^/]*\.h$")
PYTHON_MODULES = {
    "slicer.util": "Base/Python/slicer/util.py",
    "slicer.i18n": "Base/Python/slicer/i18n.py",
    "slicer.ScriptedLoadableModule": "Base/Python/slicer/ScriptedLoadableModule.py",
    "slicer.parameterNodeWrapper": "Base/Python/slicer/parameterNodeWrapper/__init__.py",
}
DECLARED = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
MACRO = re.compile(r"\bvtk(Get|Set|Boolean)\w*Macro\s*\(\s*(\w+)")


# -- recording -------------------------------------------------------------------------------
def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout


def header_names(text: str) -> set[str]:
    text = re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)
    names = set(DECLARED.findall(text))
    for kind, name in MACRO.findall(text):
        names |= {f"{name}On", f"{name}Off"} if kind == "Boolean" else {kind + name}
    return names


def python_names(read, path: str) -> set[str]:
    """Top-level names of a module; ``from .sibling import *`` followed (``read(path)``
    gives a file's text at the recorded release)."""
    names = set()
    for node in ast.parse(read(path)).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.ImportFrom) and node.level == 1 \
                and node.names[0].name == "*":
            names |= python_names(read, str(Path(path).parent / f"{node.module}.py"))
        elif isinstance(node, ast.ImportFrom):
            names |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names - {"*"}


def declared(repo: Path, revision: str) -> tuple[list[str], set[str]]:
    """The files at ``revision`` and every name its headers declare."""
    files = _git(repo, "ls-tree", "-r", "--name-only", revision).splitlines()
    methods = set()
    for header in (f for f in files if HEADER_FOLDERS.match(f)):
        methods |= header_names(_git(repo, "show", f"{revision}:{header}"))
    return files, methods


def record(repo: Path, tag: str, newest: str = "HEAD") -> Path:
    files, methods = declared(repo, tag)
    # Names the newest Slicer declares and the oldest does not: a call to one of these is a
    # call the oldest supported release cannot serve, whatever class it is on (Qt-style
    # widget methods included, which slicer-core cannot list).
    added_after = sorted(declared(repo, newest)[1] - methods)
    classes = sorted({Path(f).stem for f in files if re.match(r".*/(vtk|qMRML|qSlicer)\w+\.h$", f)})
    def read(path: str) -> str:
        return _git(repo, "show", f"{tag}:{path}")

    python = {module: sorted(python_names(read, path)) for module, path in PYTHON_MODULES.items()}
    out = HERE / f"slicer-api-{tag.lstrip('v')}.json"
    out.write_text(json.dumps({"version": tag.lstrip("v"), "classes": classes,
                               "methods": sorted(methods), "added_after": added_after,
                               "python": python}, indent=0) + "\n")
    return out


# -- what the modules call -------------------------------------------------------------------
def slicer_side_sources() -> list[Path]:
    return sorted(p for folder in SLICER_SIDE for p in (ROOT / folder).rglob("*.py"))


def calls(path: Path) -> dict[str, set[tuple[str, int]]]:
    """``methods``: ``x.Name(...)`` calls with a capitalised name (VTK / MRML style);
    ``all_methods``: every ``x.name(...)`` call;
    ``classes``: ``slicer.vtkX`` and ``from slicer import vtkX``; per Python module of
    Slicer, the names used from it (``slicer.util.x`` or ``from slicer.util import x``)."""
    found: dict[str, set[tuple[str, int]]] = {"methods": set(), "all_methods": set(),
                                              "classes": set()}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            found["all_methods"].add((node.func.attr, node.lineno))
            if node.func.attr[:1].isupper():
                found["methods"].add((node.func.attr, node.lineno))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                and isinstance(node.value.value, ast.Name) and node.value.value.id == "slicer":
            module = f"slicer.{node.value.attr}"
            if module in PYTHON_MODULES:
                found.setdefault(module, set()).add((node.attr, node.lineno))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id == "slicer" and re.match(r"(vtk|qMRML|qSlicer)", node.attr):
            found["classes"].add((node.attr, node.lineno))
        if isinstance(node, ast.ImportFrom) and node.module:
            names = {(alias.name, node.lineno) for alias in node.names}
            if node.module in PYTHON_MODULES:
                found.setdefault(node.module, set()).update(names)
            elif node.module == "slicer":
                found["classes"] |= {n for n in names if re.match(r"(vtk|qMRML|qSlicer)", n[0])}
    return found


if __name__ == "__main__":
    print(record(Path(sys.argv[1]), sys.argv[2]))
