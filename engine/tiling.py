"""Tile layout of model inference, without torch (the plugin reads the defaults at load).

The defaults come from ``bench/tiling_study.py`` (bench/RESULTS.md, "Tiled vs
whole-image inference"); ``tests/engine/test_tiling_defaults.py`` holds them to it.
"""

from __future__ import annotations

#: Tile edge in PAN pixels.
DEFAULT_TILE_SIZE = 256
#: Overlap between neighbouring tiles in PAN pixels.
DEFAULT_OVERLAP = 32
#: Stitching: 'linear' cross-fades neighbouring tiles over the middle half of their
#: overlap, 'cut' keeps each tile's centre up to the middle of the overlap.
DEFAULT_BLEND = "linear"
