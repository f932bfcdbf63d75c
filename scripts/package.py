#!/usr/bin/env python3
"""Build the QGIS plugin zip ``dist/pantiny_qgis-<version>.zip`` (standard library only).

Layout of the zip (what the QGIS plugin repository expects)::

    pantiny_qgis/            the plugin code (pantiny_qgis/ of the repository)
    pantiny_qgis/engine/     the engine, copied (the repository has a symlink), without
                             the training-only ``engine/trainer/``
    pantiny_qgis/resources/  icons, bundled weights... (copied from the symlink)
    pantiny_qgis/metadata.txt
    pantiny_qgis/LICENSE

Symlinks are dereferenced; caches (``__pycache__``, ``*.pyc``), VCS folders, editor
leftovers and compiled binaries are left out.  The zip is reproducible (fixed
timestamps, sorted entries) and must stay under the repository's 25 MB limit.

Usage: package.py [--out DIR] [--root REPO]   (prints the path of the zip)
"""

from __future__ import annotations

import argparse
import configparser
import os
import stat
import sys
import zipfile
from pathlib import Path

PLUGIN = "pantiny_qgis"
MAX_BYTES = 25 * 1024 * 1024
REQUIRED_METADATA = ("name", "description", "version", "qgisMinimumVersion", "author", "email",
                     "about", "tracker", "repository")
EXCLUDED_DIRS = {"__pycache__", ".git", ".svn", ".hg", "__MACOSX", ".pytest_cache",
                 ".mypy_cache", ".ruff_cache", ".ipynb_checkpoints"}
EXCLUDED_SUFFIXES = {".pyc", ".pyo", ".so", ".dll", ".pyd", ".dylib", ".exe", ".o", ".a",
                     ".lib", ".orig", ".rej", ".swp", ".tmp"}
EXCLUDED_NAMES = {".DS_Store", "Thumbs.db", ".gitignore", ".gitattributes"}
#: Folders of the plugin tree left out of the zip (relative to ``pantiny_qgis/``): the
#: training-only engine subpackage (trainer and its datasets; used by ``training/``,
#: ``bench/`` and the tests, never by the plugin).
EXCLUDED_PLUGIN_DIRS = {"engine/trainer"}
FIXED_TIME = (2024, 1, 1, 0, 0, 0)


def read_metadata(path: Path) -> dict[str, str]:
    """The ``[general]`` section of a metadata.txt; raise SystemExit if fields are missing."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keep qgisMinimumVersion's case
    with open(path, encoding="utf-8") as handle:
        parser.read_file(handle)
    meta = dict(parser["general"])
    missing = [key for key in REQUIRED_METADATA if not meta.get(key, "").strip()]
    if missing:
        raise SystemExit(f"{path}: missing required metadata field(s): {', '.join(missing)}")
    return meta


def _excluded(name: str) -> bool:
    return (name in EXCLUDED_NAMES or name in EXCLUDED_DIRS
            or os.path.splitext(name)[1].lower() in EXCLUDED_SUFFIXES
            or name.endswith("~") or name.startswith(".#"))


def collect(root: Path) -> list[tuple[Path, str]]:
    """``(source file, name in the zip)`` pairs, symlinks followed, sorted by name."""
    plugin_dir = root / PLUGIN
    files: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(plugin_dir, followlinks=True):
        rel_dir = Path(dirpath).relative_to(plugin_dir)
        dirnames[:] = sorted(d for d in dirnames if not _excluded(d)
                             and (rel_dir / d).as_posix() not in EXCLUDED_PLUGIN_DIRS)
        for name in sorted(filenames):
            if _excluded(name):
                continue
            src = Path(dirpath) / name
            if not src.is_file():  # dangling link, socket...
                continue
            if src.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH) and \
                    src.read_bytes()[:4] in (b"\x7fELF", b"MZ\x90\x00"):
                continue  # compiled executable
            files.append((src, f"{PLUGIN}/{(rel_dir / name).as_posix()}"))
    license_file = root / "LICENSE"
    if not license_file.is_file():
        raise SystemExit(f"{license_file} is missing: the plugin repository requires a LICENSE")
    if f"{PLUGIN}/LICENSE" not in {arc for _, arc in files}:
        files.append((license_file, f"{PLUGIN}/LICENSE"))
    return sorted(files, key=lambda item: item[1])


def build(root: Path, out_dir: Path) -> Path:
    """Write the zip into ``out_dir`` and return its path."""
    root = root.resolve()
    meta = read_metadata(root / PLUGIN / "metadata.txt")
    if meta.get("hasProcessingProvider", "").strip().lower() != "yes":
        raise SystemExit("metadata.txt must declare hasProcessingProvider=yes")
    files = collect(root)
    names = {arc for _, arc in files}
    for needed in ("__init__.py", "metadata.txt", "LICENSE", "engine/__init__.py"):
        if f"{PLUGIN}/{needed}" not in names:
            raise SystemExit(f"{PLUGIN}/{needed} is missing from the package")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{PLUGIN}-{meta['version'].strip()}.zip"
    partial = target.with_name(target.name + ".partial")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED,
                             compresslevel=9) as archive:
            dirs_written: set[str] = set()
            for src, arc in files:
                parts = arc.split("/")[:-1]
                for i in range(1, len(parts) + 1):
                    folder = "/".join(parts[:i]) + "/"
                    if folder not in dirs_written:
                        info = zipfile.ZipInfo(folder, FIXED_TIME)
                        info.external_attr = (0o40755 << 16) | 0x10
                        archive.writestr(info, b"")
                        dirs_written.add(folder)
                info = zipfile.ZipInfo(arc, FIXED_TIME)
                info.external_attr = 0o100644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, src.read_bytes())
        size = partial.stat().st_size
        if size > MAX_BYTES:
            raise SystemExit(f"{target.name} is {size / 2**20:.1f} MB; the QGIS plugin "
                             "repository accepts at most 25 MB")
        os.replace(partial, target)
    finally:
        if partial.exists():
            partial.unlink()
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parent.parent
    parser.add_argument("--root", type=Path, default=here, help="repository root")
    parser.add_argument("--out", type=Path, default=here / "dist", help="output folder")
    args = parser.parse_args(argv)
    print(build(args.root, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
