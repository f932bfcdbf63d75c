"""Optional runtime dependencies of the plugin (PyTorch) and how to install them.

Nothing here imports torch: :func:`missing_dependencies` only asks the import system
whether the package could be found (``importlib.util.find_spec``), so QGIS start-up,
``qgis_process list`` and the Toolbox stay fast and work without PyTorch.  The plugin
never installs anything itself (QGIS plugin repository rule); it explains what to do.
"""

from __future__ import annotations

import importlib.util
import sys

#: import name -> pip distribution name of each required optional dependency.
REQUIRED = {"torch": "torch"}

DOCS_URL = "https://github.com/pantiny-qgis/pantiny_qgis#installing-pytorch"


def missing_dependencies() -> list[str]:
    """Import names of the required packages that the running Python cannot find."""
    missing = []
    for module in REQUIRED:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # broken package, or sys.modules entry set to None
            found = False
        if not found:
            missing.append(module)
    return missing


def install_instructions(missing: list[str] | None = None, platform: str | None = None) -> str:
    """A user-facing message: what is missing and how to install it for this OS.

    ``missing`` defaults to :func:`missing_dependencies`; ``platform`` to ``sys.platform``
    (``'win32'``, ``'darwin'``, ``'linux'``...).  Returns ``''`` when nothing is missing.
    """
    if missing is None:
        missing = missing_dependencies()
    if not missing:
        return ""
    platform = sys.platform if platform is None else platform
    packages = " ".join(REQUIRED.get(name, name) for name in missing)
    names = ", ".join(missing)
    head = (f"PanTiny needs the Python package '{names}' (PyTorch) in the Python interpreter "
            "that QGIS uses, but it cannot be found there. PanTiny never installs packages "
            "itself. Install PyTorch (the CPU build is enough, about 200 MB), then restart QGIS.")
    cpu_index = "--index-url https://download.pytorch.org/whl/cpu"
    if platform.startswith("win"):
        how = ("Windows: close QGIS, open the 'OSGeo4W Shell' that comes with QGIS (Start menu), "
               f"and run:  python -m pip install {packages} {cpu_index}")
    elif platform == "darwin":
        how = ("macOS (official QGIS.app): in a Terminal run:  "
               f"/Applications/QGIS.app/Contents/MacOS/bin/python3 -m pip install {packages}")
    else:
        venv = "~/.local/share/pantiny/venv"
        how = ("Linux: QGIS uses the system Python. Where pip may install into it (older "
               f"systems):  python3 -m pip install --user {packages} {cpu_index}  . On Debian "
               "12, Ubuntu 23.04 and later ('externally managed' Python), keep the system "
               "Python intact: install into a virtual environment that sees the system "
               f"packages and point Python at it with a .pth file:  python3 -m venv "
               f"--system-site-packages {venv} && {venv}/bin/pip install {packages} "
               f"{cpu_index} && mkdir -p \"$(python3 -m site --user-site)\" && {venv}/bin/python "
               "-c 'import site; print(site.getsitepackages()[0])' > "
               "\"$(python3 -m site --user-site)/pantiny-torch.pth\"")
    check = ("To see which Python QGIS uses, run in the QGIS Python console: "
             "import sys; print(sys.version, sys.prefix)")
    return f"{head}\n{how}\n{check}\nMore: {DOCS_URL}"
