"""Fixtures for the tests that need QGIS (Debian's python3-qgis, QGIS 3.22).

One plain session fixture (as in the QGIS test suite; pytest-qgis is
disabled in pytest.ini): ``qgis_app`` creates the QgsApplication headless and
initialises Processing; ``provider`` registers one PanTiny provider for the session
and keeps it referenced.  ``run_qgis_process`` runs ``/usr/bin/qgis_process.bin`` with
the environment of ``env.sh`` but with a throw-away copy of the profile, HOME and
runtime folder, so the tests never depend on (or write to) ``.qgis/`` or the real home.

Every test under tests/qgis/ is marked ``qgis`` automatically.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

# Before anything imports qgis: Qt must never try to reach an X server.
os.environ["QT_QPA_PLATFORM"] = "offscreen"

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
QGIS_PROCESS = "/usr/bin/qgis_process.bin"
SYSTEM_PLUGINS = "/usr/share/qgis/python/plugins"


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(getattr(item, "path", item.fspath))).resolve()
        if HERE in path.parents:
            item.add_marker(pytest.mark.qgis)


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


@pytest.fixture(scope="session")
def qgis_app(tmp_path_factory):
    """The session's QgsApplication (GUI disabled), with Processing initialised."""
    saved = {k: os.environ.get(k) for k in ("XDG_RUNTIME_DIR", "QGIS_CUSTOM_CONFIG_PATH")}
    base = tmp_path_factory.mktemp("qgis_app")
    if not os.environ.get("XDG_RUNTIME_DIR"):
        os.environ["XDG_RUNTIME_DIR"] = str(_private_dir(base / "run"))
    # a throw-away profile: in-process tests never touch .qgis/ or ~/.local/share/QGIS
    os.environ["QGIS_CUSTOM_CONFIG_PATH"] = str(_private_dir(base / "profile"))

    from qgis.core import QgsApplication

    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    if SYSTEM_PLUGINS not in sys.path:
        sys.path.append(SYSTEM_PLUGINS)
    from processing.core.Processing import Processing

    Processing.initialize()
    yield app
    app.exitQgis()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def provider(qgis_app):
    """The PanTiny provider, registered for the whole session (kept referenced here)."""
    from qgis.core import QgsApplication

    from pantiny_qgis.provider import PanTinyProvider

    registry = QgsApplication.processingRegistry()
    prov = PanTinyProvider()
    assert registry.addProvider(prov), "could not register the PanTiny provider"
    yield prov
    registry.removeProvider(prov)


def _load_enable_plugin():
    spec = importlib.util.spec_from_file_location("pantiny_enable_plugin",
                                                  REPO / "scripts" / "enable_plugin.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module.enable_plugin


@pytest.fixture(scope="session")
def qgis_process_env(tmp_path_factory) -> dict[str, str]:
    """The environment of ``env.sh``, with profile/HOME/runtime dir in a temporary folder.

    The profile is a copy of ``.qgis/`` when it exists (else new), with pantiny_qgis
    enabled in it.
    """
    base = tmp_path_factory.mktemp("qgis_process")
    shell = ('PANTINY_KEEP_HOME=1; export PANTINY_KEEP_HOME; source "$1/env.sh" >/dev/null '
             '&& env -0')
    done = subprocess.run(["bash", "-c", shell, "bash", str(REPO)], capture_output=True,
                          check=True, stdin=subprocess.DEVNULL)
    env = dict(item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)
    profile = base / "profile"
    if (REPO / ".qgis").is_dir():
        shutil.copytree(REPO / ".qgis", profile, symlinks=True)
    else:
        profile.mkdir()
    _load_enable_plugin()(profile, "pantiny_qgis")
    env.update(
        QGIS_CUSTOM_CONFIG_PATH=str(profile),
        HOME=str(_private_dir(base / "home")),
        XDG_RUNTIME_DIR=str(_private_dir(base / "run")),
    )
    env.pop("PANTINY_KEEP_HOME", None)
    return env


@pytest.fixture(scope="session")
def run_qgis_process(qgis_process_env) -> Callable[..., subprocess.CompletedProcess]:
    """``run_qgis_process(*args, env=None, timeout=180)`` -> CompletedProcess (text).

    Runs ``/usr/bin/qgis_process.bin ARGS`` (never the Debian wrapper) with
    :func:`qgis_process_env`; ``env`` overrides single variables (e.g. QGIS_PLUGINPATH).
    The exit status is not checked: assert on ``returncode`` and read ``stderr``.
    """
    cwd = Path(qgis_process_env["HOME"])

    def run(*args: str, env: dict[str, str] | None = None,
            timeout: float = 180) -> subprocess.CompletedProcess:
        merged = dict(qgis_process_env)
        if env:
            merged.update(env)
        return subprocess.run([QGIS_PROCESS, *map(str, args)], env=merged, cwd=cwd,
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    return run
