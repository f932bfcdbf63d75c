"""The plugin's own metadata.txt (version, name), read with the standard library only."""

from __future__ import annotations

import configparser
import functools
import os

PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))
METADATA_PATH = os.path.join(PLUGIN_DIR, "metadata.txt")
ICON_PATH = os.path.join(PLUGIN_DIR, "resources", "icons", "pantiny.svg")


@functools.lru_cache(maxsize=None)
def metadata() -> dict[str, str]:
    """The ``[general]`` section of metadata.txt (empty dict if it cannot be read)."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(METADATA_PATH, encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, configparser.Error):
        return {}
    return dict(parser["general"]) if parser.has_section("general") else {}


def plugin_version() -> str:
    """The plugin version from metadata.txt, e.g. ``'0.1.0'`` (``'unknown'`` if absent)."""
    return metadata().get("version", "unknown")
