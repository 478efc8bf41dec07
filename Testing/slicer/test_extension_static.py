"""Static checks of what only the Slicer application can run: the modules' .ui files and
Python widgets agree, and the extension's CMake and .s4ext metadata agree."""

from __future__ import annotations

import ast
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(d.name for d in ROOT.iterdir()
                 if (d / "CMakeLists.txt").exists() and (d / f"{d.name}.py").exists())
# Widget classes that Slicer's designer plugins provide.
SLICER_CLASS = re.compile(r"^(qMRML|qSlicer|ctk)[A-Za-z]+$")


def _ui(module: str) -> ET.Element:
    return ET.parse(ROOT / module / "Resources" / "UI" / f"{module}.ui").getroot()


def _source(module: str) -> str:
    return (ROOT / module / f"{module}.py").read_text(encoding="utf-8")


def test_the_extension_has_modules():
    assert "SCORERefine" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_ui_is_designer_xml_with_known_widget_classes(module):
    ui = _ui(module)
    assert ui.tag == "ui" and ui.get("version") == "4.0"
    top = ui.find("widget")
    assert top.get("class") == "qMRMLWidget" and top.get("name") == module
    declared = {c.findtext("class"): c.findtext("extends")
                for c in ui.iter("customwidget")}
    assert all(SLICER_CLASS.match(name) for name in declared), declared
    for widget in ui.iter("widget"):
        cls = widget.get("class")
        assert cls.startswith("Q") or cls in declared, f"{widget.get('name')}: {cls}"
    names = [w.get("name") for w in ui.iter("widget")]
    assert len(names) == len(set(names)), "duplicate widget names"
    for connection in ui.iter("connection"):
        assert connection.findtext("sender") in names
        assert connection.findtext("receiver") in names


@pytest.mark.parametrize("module", MODULES)
def test_every_widget_the_python_uses_exists_in_the_ui(module):
    names = {w.get("name") for w in _ui(module).iter("widget")}
    base = (ROOT / "SCORESlicerLib" / "widget.py").read_text(encoding="utf-8")
    used = set(re.findall(r"self\.ui\.([A-Za-z_]\w*)", _source(module) + base))
    assert used, "the widget uses no ui element?"
    assert used <= names, f"missing in the .ui: {sorted(used - names)}"


def _parameter_fields(module: str) -> set[str]:
    tree = ast.parse(_source(module))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(
                getattr(d, "id", None) == "parameterNodeWrapper" for d in node.decorator_list):
            return {s.target.id for s in node.body if isinstance(s, ast.AnnAssign)}
    raise AssertionError(f"{module}.py has no @parameterNodeWrapper class")


@pytest.mark.parametrize("module", MODULES)
def test_parameter_node_fields_and_ui_bindings_match(module):
    bound = {}
    for widget in _ui(module).iter("widget"):
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                bound[prop.findtext("string")] = widget.get("name")
    fields = _parameter_fields(module)
    assert set(bound) == fields, (set(bound) ^ fields)


@pytest.mark.parametrize("module", MODULES)
def test_module_follows_the_scripted_module_template(module):
    tree = ast.parse(_source(module))
    classes = {n.name: [ast.unparse(b) for b in n.bases] for n in tree.body
               if isinstance(n, ast.ClassDef)}
    assert "ScriptedLoadableModule" in classes[module]
    assert "ModuleWidget" in classes[f"{module}Widget"]
    assert "ScriptedLoadableModuleLogic" in classes[f"{module}Logic"]
    assert "ScriptedLoadableModuleTest" in classes[f"{module}Test"]
    # The shared widget base is Slicer's template widget with its parameter-node plumbing.
    base = (ROOT / "SCORESlicerLib" / "widget.py").read_text(encoding="utf-8")
    assert "class ModuleWidget(ScriptedLoadableModuleWidget, VTKObservationMixin)" in base
    assert "connectGui(self.ui)" in base


def _cmake_list(text: str, variable: str) -> list[str]:
    block = re.search(rf"set\({variable}\s+(.*?)\)", text, re.S).group(1)
    module = _cmake_value(text, "MODULE_NAME") if "set(MODULE_NAME" in text else ""
    return [line.strip().replace("${MODULE_NAME}", module)
            for line in block.splitlines() if line.strip()]


def _cmake_value(text: str, variable: str) -> str:
    match = re.search(rf'set\({variable}\s+(?:"([^"]*)"|([^)\s]*))\)', text)
    return match.group(1) if match.group(1) is not None else match.group(2)


@pytest.mark.parametrize("module", MODULES)
def test_module_cmake_lists_exactly_the_module_files(module):
    cmake = (ROOT / module / "CMakeLists.txt").read_text()
    assert _cmake_value(cmake, "MODULE_NAME") == module
    assert "slicerMacroBuildScriptedModule" in cmake
    scripts = set(_cmake_list(cmake, "MODULE_PYTHON_SCRIPTS"))
    on_disk = {p.relative_to(ROOT / module).as_posix() for p in (ROOT / module).rglob("*.py")}
    assert scripts == on_disk
    for resource in _cmake_list(cmake, "MODULE_PYTHON_RESOURCES"):
        assert (ROOT / module / resource).is_file(), resource
    assert f"add_subdirectory({module})" in (ROOT / "CMakeLists.txt").read_text()


def test_scorekit_and_the_shared_package_are_installed_with_the_modules():
    cmake = (ROOT / "SCORESlicerLib" / "CMakeLists.txt").read_text()
    assert re.search(r"GLOB_RECURSE SCOREKIT_SCRIPTS .*scorekit/\*\.py", cmake)
    assert "ctkMacroCompilePythonScript" in cmake
    assert 'SCRIPTS "${SHARED_PYTHON_SCRIPTS};${SCOREKIT_SCRIPTS}"' in cmake
    shared = {line.strip() for line in _cmake_list(cmake, "SHARED_PYTHON_SCRIPTS")}
    assert shared == {p.relative_to(ROOT).as_posix()
                      for p in (ROOT / "SCORESlicerLib").glob("*.py")}
    assert "add_subdirectory(SCORESlicerLib)" in (ROOT / "CMakeLists.txt").read_text()
    assert (ROOT / "scorekit" / "__main__.py").exists()  # PythonSlicer -m scorekit


def _s4ext() -> dict[str, str]:
    fields = {}
    for line in (ROOT / "SCORE.s4ext").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition(" ")
            fields[key] = value.strip()
    return fields


def test_cmake_and_s4ext_metadata_agree():
    cmake = (ROOT / "CMakeLists.txt").read_text()
    s4ext = _s4ext()
    assert re.search(r"project\((\w+)\)", cmake).group(1) == "SCORE"
    pairs = {"HOMEPAGE": "homepage", "CATEGORY": "category", "CONTRIBUTORS": "contributors",
             "DESCRIPTION": "description", "ICONURL": "iconurl", "DEPENDS": "depends",
             "SCREENSHOTURLS": "screenshoturls"}
    for cmake_key, s4ext_key in pairs.items():
        assert _cmake_value(cmake, f"EXTENSION_{cmake_key}") == s4ext[s4ext_key], cmake_key
    assert s4ext["depends"] == "PyTorch"
    assert s4ext["category"] == "Segmentation"
    assert s4ext["scmurl"].removesuffix(".git") == s4ext["homepage"]


@pytest.mark.parametrize("icon", ["Resources/Icons/SCORE.png",
                                  *[f"{m}/Resources/Icons/{m}.png" for m in MODULES]])
def test_icons_are_128_pixel_pngs(icon):
    data = (ROOT / icon).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (128, 128)
