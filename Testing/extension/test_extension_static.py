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


def test_module_icons_are_distinct():
    icons = [(ROOT / m / "Resources" / "Icons" / f"{m}.png").read_bytes() for m in MODULES]
    assert len(set(icons)) == len(icons)


def test_the_catalog_entry_follows_slicers_schema_and_the_cmake_metadata():
    """``SCORE.json`` for the Extensions Index, against the schema copied from Slicer's
    sources (Schemas/slicer-extension-catalog-entry-schema-v1.0.2.json)."""
    import json

    import jsonschema

    entry = json.loads((ROOT / "SCORE.json").read_text())
    schema_file = Path(__file__).parent / "slicer-extension-catalog-entry-schema-v1.0.2.json"
    schema = json.loads(schema_file.read_text())
    assert entry["$schema"] == schema["$id"]
    jsonschema.validate(entry, schema)
    cmake = (ROOT / "CMakeLists.txt").read_text()
    assert entry["category"] == _cmake_value(cmake, "EXTENSION_CATEGORY")
    assert entry["build_dependencies"] == _cmake_value(cmake, "EXTENSION_DEPENDS").split()
    assert entry["scm_url"] == _s4ext()["scmurl"]
    with pytest.raises(jsonschema.ValidationError):  # the check can fail
        jsonschema.validate(entry | {"tier": 9}, schema)


def test_screenshots_are_images_in_the_repository():
    urls = _cmake_value((ROOT / "CMakeLists.txt").read_text(), "EXTENSION_SCREENSHOTURLS")
    prefix = _cmake_value((ROOT / "CMakeLists.txt").read_text(), "EXTENSION_ICONURL").split(
        "/Resources/")[0] + "/"
    assert urls.split()
    for url in urls.split():
        assert url.startswith(prefix), url
        assert (ROOT / url.removeprefix(prefix)).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", url


def test_the_license_file_is_the_one_pyproject_declares():
    license_text = (ROOT / "LICENSE").read_text()
    assert 'license = { text = "Apache-2.0" }' in (ROOT / "pyproject.toml").read_text()
    assert license_text.lstrip().startswith("Apache License") and "Version 2.0" in license_text


def _functions(path: Path) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {f"{cls.name}.{f.name}": f for cls in tree.body if isinstance(cls, ast.ClassDef)
            for f in cls.body if isinstance(f, ast.FunctionDef)}


@pytest.mark.parametrize("module", MODULES)
def test_node_selector_handlers_use_the_node_the_signal_passes(module):
    """qMRMLNodeComboBox emits currentNodeChanged before the parameter node follows it: a
    handler that reads the parameter node then sees the previous node."""
    for call in ast.walk(ast.parse(_source(module))):
        if isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "connect" \
                and call.args and getattr(call.args[0], "value", "") \
                == "currentNodeChanged(vtkMRMLNode*)":
            handler = call.args[1]
            if isinstance(handler, ast.Lambda):
                used = {n.id for n in ast.walk(handler.body) if isinstance(n, ast.Name)}
                assert handler.args.args[0].arg in used, f"{module}:{call.lineno}"


def test_what_runs_when_a_job_ends_needs_no_shown_module():
    widget = _functions(ROOT / "SCORESlicerLib" / "widget.py")
    finished = ast.unparse(widget["ModuleWidget.onTrainingFinished"])
    assert "_parameterNode" not in finished
    assert "self._parameterNode is not None" in ast.unparse(widget["ModuleWidget.updateButtons"])
    for module in MODULES:  # modules refresh through the guarded updateButtons
        assert f"{module}Widget.updateButtons" not in _functions(ROOT / module / f"{module}.py")


@pytest.mark.parametrize("module, heavy", [("SCORERefine", "test_rate_train_and_refine"),
                                           ("WeakStatSeg", "test_record_train_and_segment")])
def test_self_tests_skip_the_heavy_part_without_the_dependencies(module, heavy):
    run = ast.unparse(_functions(ROOT / module / f"{module}.py")[f"{module}Test.runTest"])
    light, check, trains = (run.index(s) for s in ("self.test_module_loads()",
                                                  "missing_packages()", f"self.{heavy}()"))
    assert light < check < trains


@pytest.mark.parametrize("module", MODULES)
def test_a_source_checkout_module_finds_the_shared_packages(module, tmp_path):
    """Slicer puts only the module's own folder on sys.path: the module's first lines must
    reach scorekit and SCORESlicerLib from there (run here in an isolated interpreter)."""
    import subprocess
    import sys

    source = _source(module)
    bootstrap = source[source.index("# From a source checkout"):source.index(
        "from scorekit import registry")]
    script = (f"import sys\nfrom pathlib import Path\n__file__ = {str(ROOT / module / module)!r}"
              f" + '.py'\nsys.path[:] = [p for p in sys.path if p and Path(p).resolve() != "
              f"Path({str(ROOT)!r})]\n{bootstrap}\n"
              "import scorekit.registry, SCORESlicerLib.dependencies\n"
              "print(Path(scorekit.registry.__file__).parents[1])\n")
    result = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True,
                            text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(ROOT)


@pytest.mark.parametrize("module", MODULES)
def test_every_self_test_the_ctest_loader_collects_skips_without_the_dependencies(module):
    """``slicer_add_python_unittest`` runs each ``test*`` method through
    ``unittest.TestLoader``: a method that needs torch must skip itself first."""
    functions = _functions(ROOT / module / f"{module}.py")
    collected = [name.split(".")[1] for name in functions
                 if name.startswith(f"{module}Test.test")]
    assert "test_module_loads" in collected and len(collected) >= 2
    for name in collected:
        if name == "test_module_loads":  # needs nothing beyond Slicer
            continue
        body = [s for s in functions[f"{module}Test.{name}"].body
                if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        assert ast.unparse(body[0]) == "dependencies.skip_unless_installed()", name
