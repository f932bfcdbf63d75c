#!/usr/bin/env python3
"""Enable a Python plugin in an isolated QGIS profile without starting QGIS.

Writes ``[PythonPlugins] <plugin>=true`` into
``<config>/profiles/<profile>/QGIS/QGIS3.ini`` (what ``qgis_process plugins enable``
does), keeping every other line of an existing file untouched.  Idempotent.

Usage: enable_plugin.py CONFIG_DIR [PLUGIN] [PROFILE]
"""

from __future__ import annotations

import sys
from pathlib import Path

SECTION = "[PythonPlugins]"


def enable_plugin(config_dir: str | Path, plugin: str = "pantiny_qgis", profile: str = "default") -> Path:
    """Set ``plugin=true`` in the profile's QGIS3.ini; return the ini path."""
    ini = Path(config_dir) / "profiles" / profile / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True, exist_ok=True)
    lines = ini.read_text(encoding="utf-8").splitlines() if ini.exists() else []
    entry = f"{plugin}=true"
    out: list[str] = []
    in_section = False
    seen_section = False
    done = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            if in_section and not done:
                out.append(entry)
                done = True
            in_section = stripped == SECTION
            seen_section = seen_section or in_section
        elif in_section and stripped.split("=", 1)[0].strip() == plugin:
            if not done:
                out.append(entry)
                done = True
            continue
        out.append(line)
    if not done:
        if not seen_section:
            if out and out[-1].strip():
                out.append("")
            out.append(SECTION)
        out.append(entry)
    text = "\n".join(out) + "\n"
    if not ini.exists() or ini.read_text(encoding="utf-8") != text:
        ini.write_text(text, encoding="utf-8")
    return ini


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 3:
        print(__doc__, file=sys.stderr)
        return 2
    print(enable_plugin(*argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
