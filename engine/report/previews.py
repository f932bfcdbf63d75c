"""True-colour previews for reports, computed from bounded-memory reads.

File previews read decimated overviews (GDAL resamples while reading, so memory is the
preview size, whatever the scene size) and one full-resolution crop of at most
``crop`` x ``crop`` PAN pixels.  Array previews (reduced-resolution evaluation, whose
arrays are already in memory) are strided.  The MS and the fused result share one
contrast stretch (2-98 % of the MS preview), so their colours compare directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..io.display import rgb_bands, stretch_limits, to_display
from ..io.windows import Window
from .png import png_data_uri

#: Longest side of an overview preview (pixels) and side of the zoomed crop (PAN pixels).
OVERVIEW_SIDE = 300
CROP_SIDE = 160


@dataclass
class Preview:
    caption: str
    data_uri: str
    width: int
    height: int
    zoom: int = 1
    row: int = 0  # previews of one row are shown side by side (0: overviews, 1: crops)


def display_bands(names: Sequence[str | None], count: int) -> tuple[list[int], str]:
    """1-based bands shown as R, G, B and a note: from the band names, else bands
    3, 2, 1 (1 alone for a single band)."""
    rgb = rgb_bands(names)
    if rgb is not None:
        return list(rgb), "true colour (red, green, blue bands)"
    if count >= 3:
        return [3, 2, 1], ("bands 3, 2, 1 as R, G, B (the band names do not say which are "
                           "red, green, blue)")
    return [1, 1, 1], "band 1 in grey"


def _rgb(values: np.ndarray, limits) -> np.ndarray:
    if values.shape[0] == 1:
        values = np.repeat(values, 3, axis=0)
        limits = list(limits) * 3
    return to_display(values, limits)


def _centre_crop(win: Window, ratio: int, side: int) -> tuple[Window, Window]:
    """A crop of about ``side`` PAN pixels at the centre of ``win`` (aligned to the
    ratio) and the matching MS window, relative offsets in MS pixels."""
    side = max(ratio, min(side, win.width, win.height) // ratio * ratio)
    cx = (win.width - side) // 2 // ratio * ratio
    cy = (win.height - side) // 2 // ratio * ratio
    return (Window(win.x0 + cx, win.y0 + cy, side, side),
            Window(cx // ratio, cy // ratio, side // ratio, side // ratio))


def file_previews(pan_path: str, ms_path: str, fused_path: str, pan_win: Window,
                  ms_win: Window, ratio: int, ms_names: Sequence[str | None],
                  fused_names: Sequence[str | None], ms_bands: Sequence[int] | None = None,
                  side: int = OVERVIEW_SIDE, crop: int = CROP_SIDE) -> tuple[list[Preview], str]:
    """Overviews and a centre crop of the MS (upsampled), the PAN and the fused raster.

    ``pan_win``/``ms_win``: the common footprint in each file's pixels (the MS window is
    the PAN window divided by ``ratio``).  ``ms_bands``: the MS bands the fused bands
    correspond to (1-based), None for all.  Returns the previews and a colour note.
    """
    from ..io.raster_io import RasterReader

    with RasterReader(fused_path, "FUSED") as fr:
        count = fr.info.band_count
        f_rgb, note = display_bands(fused_names, count)
    idx = [b - 1 for b in f_rgb]
    ms_all = list(ms_bands) if ms_bands else list(range(1, len(ms_names) + 1))
    m_rgb = [ms_all[i] for i in idx]  # the MS bands matching the fused R, G, B
    scale = min(1.0, side / max(pan_win.width, pan_win.height))
    size = (max(1, round(pan_win.width * scale)), max(1, round(pan_win.height * scale)))
    crop_pan, crop_ms_rel = _centre_crop(pan_win, ratio, crop)
    crop_ms = Window(ms_win.x0 + crop_ms_rel.x0, ms_win.y0 + crop_ms_rel.y0,
                     crop_ms_rel.width, crop_ms_rel.height)
    with RasterReader(ms_path, "MS") as mr, RasterReader(pan_path, "PAN") as pr, \
            RasterReader(fused_path, "FUSED") as fr:
        up = "bilinear" if ms_win.width < size[0] else "average"
        ms_o = mr.read_decimated(ms_win, side, m_rgb, out_side=size, resample=up)
        pan_o = pr.read_decimated(pan_win, side, [1], out_side=size)
        fu_o = fr.read_decimated(pan_win, side, f_rgb, out_side=size)
        cs = (crop_pan.width, crop_pan.height)
        ms_c = mr.read_decimated(crop_ms, crop, m_rgb, out_side=cs, resample="bilinear")
        pan_c = pr.read_decimated(crop_pan, crop, [1], out_side=cs, resample="nearest")
        fu_c = fr.read_decimated(crop_pan, crop, f_rgb, out_side=cs, resample="nearest")
    limits = stretch_limits(ms_o)
    pan_limits = stretch_limits(pan_o)
    zoom = max(1, 320 // cs[0])
    where = f"{cs[0]}x{cs[1]} PAN pixels at the centre, shown {zoom}x"
    previews = [
        Preview("MS, upsampled (bilinear)", png_data_uri(_rgb(ms_o, limits)), *size),
        Preview("PAN", png_data_uri(_rgb(pan_o, pan_limits)), *size),
        Preview("Pan-sharpened result", png_data_uri(_rgb(fu_o, limits)), *size),
        Preview(f"MS, zoom ({where})", png_data_uri(_rgb(ms_c, limits)), *cs, zoom, 1),
        Preview("PAN, zoom (full resolution)", png_data_uri(_rgb(pan_c, pan_limits)), *cs, zoom,
                1),
        Preview("Result, zoom (full resolution)", png_data_uri(_rgb(fu_c, limits)), *cs, zoom,
                1),
    ]
    return previews, note


def array_previews(images: Sequence[tuple[str, np.ndarray]], names: Sequence[str | None],
                   side: int = OVERVIEW_SIDE, crop: int = CROP_SIDE) -> tuple[list[Preview], str]:
    """Overviews (strided, enlarged when small) and a centre crop of same-sized
    ``(C, H, W)`` arrays with captions, stretched with the first array's limits (NaN =
    nodata).  No crop when the whole image fits in one."""
    count = images[0][1].shape[0]
    rgb, note = display_bands(names, count)
    idx = [b - 1 for b in rgb]
    h, w = images[0][1].shape[1:]
    step = max(1, int(np.ceil(max(h, w) / side)))
    limits = stretch_limits(images[0][1][idx, ::step, ::step])
    small_zoom = max(1, 300 // max(1, max(h, w) // step))
    out = []
    for caption, arr in images:
        small = arr[idx, ::step, ::step]
        shown = caption if small_zoom == 1 else f"{caption} (shown {small_zoom}x)"
        out.append(Preview(shown, png_data_uri(to_display(small, limits)),
                           small.shape[2], small.shape[1], small_zoom))
    c = min(crop, h, w)
    if step == 1 and c >= min(h, w) and max(h, w) <= crop:
        return out, note
    y0, x0 = (h - c) // 2, (w - c) // 2
    zoom = max(1, 320 // c)
    for caption, arr in images:
        part = arr[idx, y0:y0 + c, x0:x0 + c]
        out.append(Preview(f"{caption}, zoom ({c}x{c} pixels at the centre, shown {zoom}x)",
                           png_data_uri(to_display(part, limits)), c, c, zoom, 1))
    return out, note


def side_by_side(ms_path: str, fused_paths: Sequence[str], crop: int = 256,
                 gap: int = 6, at: tuple[int, int] | None = None) -> np.ndarray:
    """One RGB image: a full-resolution centre crop of the MS (upsampled, bilinear)
    and of each pan-sharpened raster, side by side, sharing the MS's stretch.

    The rasters must lie on one PAN grid; the MS covers the same ground with the same
    bands in the same order (ratio from the sizes).  ``at``: top-left PAN pixel ``(x, y)``
    of the crop (default: the centre).  Returns
    ``(crop, n * crop + gaps, 3)`` uint8 (white gaps).
    """
    from ..io.raster_io import RasterReader

    with RasterReader(fused_paths[0], "FUSED") as fr:
        info = fr.info
    rgb, _ = display_bands(info.band_descriptions, info.band_count)
    with RasterReader(ms_path, "MS") as mr:
        ratio = max(1, round(info.width / mr.info.width))
        side = min(crop, info.width, info.height) // ratio * ratio
        cx, cy = at if at is not None else ((info.width - side) // 2, (info.height - side) // 2)
        x0 = min(max(0, cx), info.width - side) // ratio * ratio
        y0 = min(max(0, cy), info.height - side) // ratio * ratio
        ms = mr.read_decimated(Window(x0 // ratio, y0 // ratio, side // ratio, side // ratio),
                               side, rgb, out_side=(side, side), resample="bilinear")
    limits = stretch_limits(ms)
    tiles = [to_display(ms, limits)]
    for path in fused_paths:
        with RasterReader(path, "FUSED") as fr:
            bands, _ = display_bands(fr.info.band_descriptions, fr.info.band_count)
            tiles.append(to_display(fr.read_decimated(Window(x0, y0, side, side), side, bands,
                                                      out_side=(side, side)), limits))
    white = np.full((side, gap, 3), 255, np.uint8)
    row = [tiles[0]]
    for tile in tiles[1:]:
        row += [white, tile]
    return np.concatenate(row, axis=1)
