"""The plugin loads like QGIS and qgis_process load it; its engine cannot be shadowed;
the release zip is complete and self-contained."""

from __future__ import annotations

import ast
import configparser
import json
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN = "pantiny_qgis"
REQUIRED_METADATA = ("name", "description", "version", "qgisMinimumVersion", "author", "email",
                     "about", "tracker", "repository")
ALSO_SET = ("hasProcessingProvider", "qgisMaximumVersion", "homepage", "tags", "category",
            "icon", "experimental", "changelog")
HOMEPAGE = "https://github.com/pantiny-qgis/pantiny_qgis"


def _metadata(text: str) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read_string(text)
    return dict(parser["general"])


def _algorithm_classes() -> list:
    from pantiny_qgis.algorithms import ALGORITHMS

    return list(ALGORITHMS)


def _run_python(python: str, script: str, *args: str, scratch: Path, timeout: float = 240) -> dict:
    """Run ``script`` in a fresh isolated interpreter (``-I``: no PYTHONPATH, no user site,
    no script folder on sys.path) with a scratch HOME/profile; it prints one JSON line last."""
    run_dir = scratch / "xdg-run"
    run_dir.mkdir(mode=0o700, exist_ok=True)
    env = {"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin", "HOME": str(scratch),
           "XDG_RUNTIME_DIR": str(run_dir), "QGIS_CUSTOM_CONFIG_PATH": str(scratch / "profile")}
    done = subprocess.run([python, "-I", "-c", textwrap.dedent(script), *args],
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=env)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])

# --------------------------------------------------------------------- metadata, layout


def test_metadata_has_every_repository_field():
    meta = _metadata((REPO / "metadata.txt").read_text(encoding="utf-8"))
    for key in REQUIRED_METADATA + ALSO_SET:
        assert meta.get(key, "").strip(), f"metadata.txt lacks {key}"
    assert meta["name"] == "PanTiny Pan-sharpening"
    assert meta["hasProcessingProvider"] == "yes"
    assert meta["qgisMinimumVersion"] == "3.22" and meta["qgisMaximumVersion"] == "3.99"
    assert meta["category"] == "Raster" and meta["experimental"] == "True"
    assert re.fullmatch(r"\d+\.\d+\.\d+", meta["version"])
    assert meta["repository"] == meta["homepage"] == HOMEPAGE
    assert meta["tracker"] == HOMEPAGE + "/issues"
    assert "PyTorch" in meta["about"] and "torch" in meta["about"]
    assert (REPO / meta["icon"]).is_file()
    # the plugin folder sees the same files through its symlinks
    for name in ("metadata.txt", "engine", "resources"):
        assert (REPO / PLUGIN / name).is_symlink(), f"{PLUGIN}/{name} must be a symlink"
    assert (REPO / PLUGIN / "metadata.txt").read_text() == (REPO / "metadata.txt").read_text()


def test_versions_agree():
    import engine
    from pantiny_qgis.meta import plugin_version

    meta = _metadata((REPO / "metadata.txt").read_text(encoding="utf-8"))
    assert plugin_version() == meta["version"] == engine.__version__


def _imports_of(text: str, name: str) -> list[tuple[int, str, int]]:
    """(level, absolute-or-relative module name, line) of every import in a source text."""
    found = []
    for node in ast.walk(ast.parse(text, name)):
        if isinstance(node, ast.Import):
            found += [(0, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or "", node.lineno))
    return found


def _imports(path: Path) -> list[tuple[int, str, int]]:
    """(level, absolute-or-relative module name, line) of every import in a file."""
    return _imports_of(path.read_text(encoding="utf-8"), str(path))


def test_import_rules_of_engine_and_plugin():
    """engine: relative imports only, no QGIS, GDAL only in raster_io, never training;
    plugin: never the top-level ``engine``, Qt only through qgis.PyQt."""
    problems = []
    for path in sorted((REPO / "engine").rglob("*.py")):
        rel = path.relative_to(REPO)
        for level, module, line in _imports(path):
            top = module.split(".")[0]
            where = f"{rel}:{line}: {module}"
            if level == 0 and top == "engine":
                problems.append(f"{where} (use a relative import)")
            if level == 0 and top in ("qgis", "PyQt5", "PyQt6", "processing"):
                problems.append(f"{where} (the engine must not import QGIS)")
            if level == 0 and top == "osgeo" and rel.as_posix() != "engine/io/raster_io.py":
                problems.append(f"{where} (GDAL only in engine/io/raster_io.py)")
            if level == 0 and top == "training":
                problems.append(f"{where} (the engine never imports training)")
    for path in sorted((REPO / PLUGIN).rglob("*.py")):
        rel = path.relative_to(REPO)
        if rel.parts[1] in ("engine", "resources"):  # symlinks to the folders checked above
            continue
        for level, module, line in _imports(path):
            top = module.split(".")[0]
            if level == 0 and top in ("engine", "training"):
                problems.append(f"{rel}:{line}: {module} (use `from ..engine import ...`)")
            if level == 0 and top in ("PyQt5", "PyQt6"):
                problems.append(f"{rel}:{line}: {module} (import Qt from qgis.PyQt)")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------- in-process QGIS


def test_provider_identity_and_algorithms(provider):
    from qgis.core import QgsApplication

    from pantiny_qgis.meta import ICON_PATH, plugin_version

    assert QgsApplication.processingRegistry().providerById("pantiny") is provider
    assert provider.id() == "pantiny" and provider.name() == "PanTiny"
    assert provider.longName().endswith(plugin_version())
    assert provider.versionInfo() == plugin_version()
    assert Path(provider.svgIconPath()) == Path(ICON_PATH) and Path(ICON_PATH).is_file()
    assert provider.defaultRasterFileExtension() == "tif"
    assert "tif" in provider.supportedOutputRasterLayerExtensions()
    classes = _algorithm_classes()
    algorithms = provider.algorithms()
    assert len(algorithms) == len(classes)
    names = [alg.name() for alg in algorithms]
    assert len(set(names)) == len(names)
    for alg in algorithms:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", alg.name()), alg.name()
        assert alg.id() == f"pantiny:{alg.name()}"
        assert alg.displayName() and alg.shortHelpString(), alg.id()
        clone = alg.createInstance()
        assert type(clone) is type(alg) and clone is not alg
        for param in alg.parameterDefinitions():
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*", param.name()), (alg.id(), param.name())


def test_compat_names(qgis_app):
    from qgis.core import Qgis, QgsProcessingParameterDefinition, QgsProcessingParameterNumber

    from pantiny_qgis import compat

    assert compat.QGIS_VERSION_INT >= 32200
    assert compat.QGIS_VERSION_INT == Qgis.QGIS_VERSION_INT
    param = QgsProcessingParameterNumber("TILE_SIZE", "Tile size", compat.NUMBER_INTEGER, 512,
                                         False, 16, 8192)
    assert param.dataType() == compat.NUMBER_INTEGER
    assert not compat.has_flag(param, compat.FLAG_ADVANCED)
    assert compat.set_flags(param, compat.FLAG_ADVANCED, compat.FLAG_OPTIONAL) is param
    assert compat.has_flag(param, compat.FLAG_ADVANCED) and compat.has_flag(param, compat.FLAG_OPTIONAL)
    assert not compat.has_flag(param, compat.FLAG_HIDDEN)
    if not compat.HAS_SCOPED_PROCESSING_ENUMS:  # QGIS 3.22 .. 3.34
        assert compat.FLAG_ADVANCED == QgsProcessingParameterDefinition.FlagAdvanced
    wrapper = compat.creation_options_metadata(32216)["widget_wrapper"]
    assert wrapper["class"].endswith("RasterOptionsWidget.RasterOptionsWidgetWrapper")
    assert compat.creation_options_metadata(33800) == {
        "widget_wrapper": {"widget_type": "rasteroptions"}}
    # the 3.22 widget class really exists in this QGIS's processing plugin
    if compat.QGIS_VERSION_INT < compat.RASTEROPTIONS_WIDGET_MIN_VERSION:
        from processing.algs.gdal.ui.RasterOptionsWidget import RasterOptionsWidgetWrapper

        assert RasterOptionsWidgetWrapper is not None


def test_dependencies_check_and_message(monkeypatch):
    import importlib.util

    from pantiny_qgis import dependencies

    real_find_spec = importlib.util.find_spec
    expected = [] if real_find_spec("torch") is not None else ["torch"]
    assert dependencies.missing_dependencies() == expected
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real_find_spec(name, *a))
    assert dependencies.missing_dependencies() == ["torch"]
    windows = dependencies.install_instructions(platform="win32")
    assert "OSGeo4W Shell" in windows and "pip install torch" in windows
    assert "/Applications/QGIS.app" in dependencies.install_instructions(platform="darwin")
    linux = dependencies.install_instructions(platform="linux")
    assert "--system-site-packages" in linux and "pantiny-torch.pth" in linux
    assert "--break-system-packages" not in linux  # never advise breaking the system Python
    assert dependencies.install_instructions([]) == ""


# --------------------------------------------------------------------- like qgis_process

ENTRY_POINT_SCRIPT = """
import json, sys
plugin_parent = sys.argv[1]
sys.modules["torch"] = None  # a QGIS whose Python has no PyTorch
from qgis.core import QgsApplication
QgsApplication.setPrefixPath("/usr", True)
app = QgsApplication([], False)
app.initQgis()
import qgis.utils
sys.path.insert(0, plugin_parent)  # QGIS puts every plugin folder on sys.path
qgis.utils.plugin_paths.insert(0, plugin_parent)
qgis.utils.updateAvailablePlugins()
out = {"available": "pantiny_qgis" in qgis.utils.available_plugins,
       "has_provider": qgis.utils.pluginMetadata("pantiny_qgis", "hasProcessingProvider"),
       "loaded": qgis.utils.loadPlugin("pantiny_qgis")}
out["started"] = qgis.utils.startProcessingPlugin("pantiny_qgis")
registry = QgsApplication.processingRegistry()
prov = registry.providerById("pantiny")
plugin = qgis.utils.plugins["pantiny_qgis"]
out["provider_name"] = prov.name() if prov is not None else None
out["kept_reference"] = plugin.provider is prov
out["iface"] = repr(plugin.iface)
out["algorithms"] = sorted(a.id() for a in prov.algorithms())
from pantiny_qgis.algorithms import ALGORITHMS
out["expected_algorithms"] = len(ALGORITHMS)
plugin.initProcessing()  # a second call must not register twice
out["providers_after_second_init"] = sum(p.id() == "pantiny" for p in registry.providers())
from pantiny_qgis.dependencies import install_instructions, missing_dependencies
out["missing"] = missing_dependencies()
out["instructions"] = bool(install_instructions())
out["torch_imported"] = sys.modules.get("torch") is not None
out["plugin_file"] = sys.modules["pantiny_qgis"].__file__
plugin.unload()
del qgis.utils.plugins["pantiny_qgis"]
qgis.utils.active_plugins.remove("pantiny_qgis")
out["after_unload"] = registry.providerById("pantiny") is None
app.exitQgis()
print(json.dumps(out))
"""


def test_entry_point_like_qgis_process(tmp_path):
    """classFactory(None) + initProcessing() as qgis_process does, in a QGIS without torch."""
    out = _run_python(sys.executable, ENTRY_POINT_SCRIPT, str(REPO), scratch=tmp_path)
    assert out["available"] and out["has_provider"] == "yes"
    assert out["loaded"] is True and out["started"] is True
    assert out["provider_name"] == "PanTiny" and out["kept_reference"] is True
    assert out["iface"] == "None"
    assert len(out["algorithms"]) == out["expected_algorithms"]
    assert all(a.startswith("pantiny:") for a in out["algorithms"])
    assert out["providers_after_second_init"] == 1
    assert out["missing"] == ["torch"] and out["instructions"] is True
    assert out["torch_imported"] is False, "loading the plugin imported torch"
    assert Path(out["plugin_file"]).parent == REPO / PLUGIN
    assert out["after_unload"] is True


def test_qgis_process_sees_enabled_plugin(run_qgis_process):
    done = run_qgis_process("plugins")
    assert done.returncode == 0, done.stderr
    assert re.search(r"^\*\s+pantiny_qgis\s*$", done.stdout, re.MULTILINE), done.stdout


def test_qgis_process_lists_provider(run_qgis_process):
    done = run_qgis_process("--json", "list")
    assert done.returncode == 0, done.stderr
    providers = json.loads(done.stdout)["providers"]
    assert "pantiny" in providers, sorted(providers)
    ours = providers["pantiny"]
    from pantiny_qgis.meta import plugin_version

    assert ours["name"] == "PanTiny" and ours["is_active"] is True
    assert ours["version"] == plugin_version()
    assert sorted(ours["algorithms"]) == sorted(
        f"pantiny:{cls().name()}" for cls in _algorithm_classes())


# --------------------------------------------------------------------- engine isolation

SHADOW_SCRIPT = """
import importlib, json, os, pkgutil, sys, types
plugin_parent, fake_dir = sys.argv[1], sys.argv[2]
touched = []
class Trap(types.ModuleType):
    def __getattr__(self, name):
        if not name.startswith("__"):  # tools that scan sys.modules probe __file__ etc.
            touched.append(name)
        raise AttributeError(f"foreign engine module asked for {name}")
trap = Trap("engine")
sys.modules["engine"] = trap          # another plugin's top-level `engine`, already imported
sys.path.insert(0, fake_dir)          # ... and one on sys.path
sys.path.insert(1, plugin_parent)
modules = sys.argv[3].split(",") if sys.argv[3] else None
failed = {}
import pantiny_qgis.engine as eng
if modules is None:
    modules = ["pantiny_qgis.engine"] + [
        m.name for m in pkgutil.walk_packages(eng.__path__, "pantiny_qgis.engine.",
                                              onerror=lambda n: failed.setdefault(n, "walk"))]
    modules += ["pantiny_qgis." + m.name for m in pkgutil.iter_modules(
        [os.path.dirname(sys.modules["pantiny_qgis"].__file__)]) if m.name != "engine"]
    modules += ["pantiny_qgis.algorithms." + m.name for m in pkgutil.iter_modules(
        [os.path.join(os.path.dirname(sys.modules["pantiny_qgis"].__file__), "algorithms")])]
files = {}
for name in modules:
    try:
        files[name] = importlib.import_module(name).__file__
    except Exception as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps({"files": files, "failed": failed, "touched": touched,
                  "engine_is_trap": sys.modules["engine"] is trap,
                  "foreign": sorted(m for m in sys.modules if m.startswith("engine.")),
                  "torch": "torch" in sys.modules}))
"""


def _fake_engine(tmp_path: Path) -> Path:
    fake = tmp_path / "other_plugin"
    (fake / "engine").mkdir(parents=True)
    (fake / "engine" / "__init__.py").write_text(
        "raise ImportError('the foreign top-level engine package was imported')\n")
    return fake


def test_engine_cannot_be_shadowed(tmp_path):
    """Another plugin's top-level ``engine`` (imported or on sys.path) is never used."""
    out = _run_python(sys.executable, SHADOW_SCRIPT, str(REPO), str(_fake_engine(tmp_path)), "",
                      scratch=tmp_path)
    assert not out["failed"], json.dumps(out["failed"], indent=1)
    assert out["engine_is_trap"] and not out["touched"] and not out["foreign"]
    assert "pantiny_qgis.engine.io.raster_io" in out["files"]
    assert "pantiny_qgis.provider" in out["files"]
    for name, file in out["files"].items():
        assert Path(file).is_relative_to(REPO / PLUGIN), (name, file)


# --------------------------------------------------------------------- release zip


@pytest.fixture(scope="module")
def package_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "package.py"), "--out",
                           str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    assert path.parent == out
    return path


def test_package_contents(package_zip):
    version = _metadata((REPO / "metadata.txt").read_text())["version"]
    assert package_zip.name == f"{PLUGIN}-{version}.zip"
    assert package_zip.stat().st_size < 25 * 1024 * 1024
    with zipfile.ZipFile(package_zip) as archive:
        names = archive.namelist()
        assert archive.testzip() is None
        meta = _metadata(archive.read(f"{PLUGIN}/metadata.txt").decode())
        license_text = archive.read(f"{PLUGIN}/LICENSE").decode()
        for info in archive.infolist():  # no symlinks stored: everything dereferenced
            assert (info.external_attr >> 16) & 0o170000 in (0o100000, 0o040000), info.filename
    assert all(n.startswith(f"{PLUGIN}/") for n in names)
    for key in REQUIRED_METADATA + ALSO_SET:
        assert meta.get(key, "").strip(), key
    assert meta["hasProcessingProvider"] == "yes"
    assert "GNU GENERAL PUBLIC LICENSE" in license_text and "Version 2" in license_text
    for needed in ("__init__.py", "plugin.py", "provider.py", "compat.py", "dependencies.py",
                   "algorithms/__init__.py", "engine/__init__.py", "engine/io/raster_io.py",
                   "engine/errors.py", meta["icon"]):
        assert f"{PLUGIN}/{needed}" in names, needed
    bad = [n for n in names if "__pycache__" in n or ".git/" in n or "__MACOSX" in n
           or re.search(r"\.(pyc|pyo|so|dll|pyd|dylib|exe)$", n)]
    assert not bad, bad
    assert not any(n.startswith(f"{PLUGIN}/tests") or "/training/" in n for n in names)


#: Engine modules used only by training/, bench/ and the tests (never shipped).
TRAINING_ONLY = ("engine/trainer/",)


def test_package_has_no_training_only_modules(package_zip):
    """The zip leaves out engine/trainer/ (trainer, datasets) and nothing it ships imports
    it; everything else of the engine is shipped."""
    with zipfile.ZipFile(package_zip) as archive:
        names = archive.namelist()
    shipped = {n[len(PLUGIN) + 1:] for n in names if n.endswith(".py")}
    leaked = sorted(n for n in shipped if n.startswith(TRAINING_ONLY))
    assert not leaked, leaked
    assert (REPO / "engine" / "trainer" / "trainer.py").is_file()  # excluded, not missing
    expected = {p.relative_to(REPO).as_posix() for p in (REPO / "engine").rglob("*.py")
                if not p.relative_to(REPO).as_posix().startswith(TRAINING_ONLY)}
    assert expected <= shipped, sorted(expected - shipped)
    importers = []
    with zipfile.ZipFile(package_zip) as archive:
        for name in sorted(n for n in names if n.endswith(".py")):
            for level, module, line in _imports_of(archive.read(name).decode(), name):
                if "trainer" in module.split("."):
                    importers.append(f"{name}:{line}: {'.' * level}{module}")
    assert not importers, importers



def test_package_engine_is_self_contained(package_zip, tmp_path):
    """The unzipped plugin imports its own engine with Debian's python3 and a clean sys.path
    (no repository, no venv, a foreign ``engine`` around), and without torch."""
    target = tmp_path / "plugins"
    with zipfile.ZipFile(package_zip) as archive:
        archive.extractall(target)
    core = ["pantiny_qgis", "pantiny_qgis.dependencies", "pantiny_qgis.meta",
            "pantiny_qgis.engine", "pantiny_qgis.engine.errors", "pantiny_qgis.engine.io.grid",
            "pantiny_qgis.engine.sensors", "pantiny_qgis.engine.filters",
            "pantiny_qgis.engine.io.raster_io"]
    out = _run_python("/usr/bin/python3", SHADOW_SCRIPT, str(target),
                      str(_fake_engine(tmp_path)), ",".join(core), scratch=tmp_path)
    assert not out["failed"], json.dumps(out["failed"], indent=1)
    assert out["engine_is_trap"] and not out["touched"] and not out["foreign"]
    assert sorted(out["files"]) == sorted(core)
    for name, file in out["files"].items():
        assert Path(file).is_relative_to(target / PLUGIN), (name, file)
    assert out["torch"] is False


def test_packaged_plugin_loads_in_qgis_process(package_zip, tmp_path, run_qgis_process):
    target = tmp_path / "plugins"
    with zipfile.ZipFile(package_zip) as archive:
        archive.extractall(target)
    done = run_qgis_process("--json", "list", env={"QGIS_PLUGINPATH": str(target)})
    assert done.returncode == 0, done.stderr
    ours = json.loads(done.stdout)["providers"].get("pantiny")
    assert ours is not None and ours["name"] == "PanTiny"
    assert len(ours["algorithms"]) == len(_algorithm_classes())
