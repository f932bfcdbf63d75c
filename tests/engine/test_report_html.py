"""engine.report: PNG encoder, SVG chart, the HTML page of a real scene, file modes."""

from __future__ import annotations

import json
import os
import re
import stat
import zlib

import numpy as np
import pytest

from engine.io.report_files import write_report
from engine.report.charts import bar_chart_svg
from engine.report.png import decode_png, encode_png
from engine.report.previews import OVERVIEW_SIDE


def test_png_round_trip_and_chunks():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    data = encode_png(rgb)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and data.endswith(
        b"IEND\xaeB`\x82")
    np.testing.assert_array_equal(decode_png(data), rgb)
    grey = rng.integers(0, 256, (3, 9), dtype=np.uint8)
    np.testing.assert_array_equal(decode_png(encode_png(grey)), grey)
    broken = bytearray(data)
    broken[30] ^= 0xFF  # inside IDAT: its CRC no longer matches
    with pytest.raises((ValueError, zlib.error)):
        decode_png(bytes(broken))
    with pytest.raises(ValueError):
        encode_png(rgb.astype(np.float32))


def test_bar_chart_has_one_bar_per_finite_value():
    svg = bar_chart_svg("D_s", ["Blue", "Green"], {"A": [0.1, 0.2], "B": [0.3, float("nan")]})
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert svg.count("<rect") == 3 + 2  # three bars, two legend swatches
    assert "A, Green: 0.2" in svg


def _write_pair(folder, shared_data):
    """wv3-dos-float fused with MTF-GLP-HPM (580x575 PAN, 8 bands, float, nodata 0)."""
    from engine.fusion.raster import pansharpen_classical_raster

    pan = str(shared_data / "wv3-dos-float/pan.tif")
    ms = str(shared_data / "wv3-dos-float/mul.tif")
    out = str(folder / "hpm.tif")
    pansharpen_classical_raster(pan, ms, out, method="mtf_glp_hpm", sensor="WorldView-3")
    return pan, ms, out


@pytest.fixture(scope="module")
def dos_pair(tmp_path_factory, shared_data):
    return _write_pair(tmp_path_factory.mktemp("dos"), shared_data)


def test_qnr_report_of_a_real_scene(dos_pair, tmp_path):
    from engine.metrics.evaluation import evaluate_qnr_files

    pan, ms, fused = dos_pair
    report = tmp_path / "quality.html"
    scores = evaluate_qnr_files(fused, pan, ms, "WorldView-3", report_path=str(report))
    assert stat.S_IMODE(os.stat(report).st_mode) == 0o644
    text = report.read_text()
    assert "<title>Quality of MTF-GLP-HPM: wv3-dos-float/mul.tif</title>" in text
    # the metric table: the result and both baselines, ideal values and explanations
    header = re.search(r"<tr><th>Index</th>(.*?)</tr>", text).group(1)
    assert re.findall(r"<th>(.*?)</th>", header) == ["MTF-GLP-HPM", "EXP", "Ideal",
                                                       "Meaning"]
    assert "0 (lower is better)" in text and "1 (higher is better)" in text
    assert f"{scores['QNR']:.4f}" in text
    # per-band values and charts, one column per band name
    assert text.count("<svg") == 3 and ">NIR1</th>" in text
    assert text.count("<tr><th>EXP</th>") == 3  # the baseline's row in each band table
    # previews: 3 overviews + 3 zoomed crops, inline PNGs that decode
    import base64
    uris = re.findall(r"src='data:image/png;base64,([^']+)'", text)
    assert len(uris) == 6
    imgs = [decode_png(base64.b64decode(u)) for u in uris]
    assert all(i.ndim == 3 and i.shape[2] == 3 for i in imgs)
    assert imgs[0].shape == imgs[1].shape == imgs[2].shape and max(imgs[0].shape) == OVERVIEW_SIDE
    assert imgs[2].std() > 10  # an image, not a blank
    # inputs and conventions collapsed, not a JSON dump; no network reference
    assert "<details><summary>Inputs and conventions</summary>" in text
    assert '{"' not in text and "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in text


def test_json_report_has_no_images(tmp_path):
    from engine.report.previews import Preview

    out = write_report(tmp_path / "r.json", {"title": "t", "scores": {"QNR": 0.5},
                                             "previews": [Preview("x", "data:", 1, 1)]})
    data = json.loads(open(out).read())
    assert "previews" not in data and data["scores"] == {"QNR": 0.5}
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o644


def test_reduced_report_of_a_real_scene(shared_data, tmp_path):
    import base64

    from engine.metrics.evaluation import evaluate_reduced_files

    report = tmp_path / "gsa.html"
    scores = evaluate_reduced_files(str(shared_data / "wv3-dos-float/pan.tif"),
                                    str(shared_data / "wv3-dos-float/mul.tif"), "gsa",
                                    "WorldView-3", report_path=str(report))
    text = report.read_text()
    assert "<title>GSA at reduced resolution (Wald protocol): wv3-dos-float/mul.tif" in text
    header = re.search(r"<tr><th>Index</th>(.*?)</tr>", text).group(1)
    assert re.findall(r"<th>(.*?)</th>", header) == ["GSA", "EXP", "Ideal", "Meaning"]
    assert f"{scores['Q2N']:.4f}" in text
    assert text.count("<svg") == 3  # Q, PSNR and CC per band
    uris = re.findall(r"src='data:image/png;base64,([^']+)'", text)
    imgs = [decode_png(base64.b64decode(u)) for u in uris]
    # the reduced images (about 140 pixels) fit in one view: three overviews, no crops
    assert len(imgs) == 3 and len({i.shape for i in imgs}) == 1
    assert imgs[0].shape[2] == 3 and 100 < max(imgs[0].shape[:2]) <= 160
    assert "(shown 2x)" in text


def _chromium_screenshot(page, shot, size=(1040, 1400)) -> np.ndarray:
    """Render ``page`` in headless Chromium; the screenshot as an (H, W, 3) array."""
    import shutil
    import subprocess

    gdal = pytest.importorskip("osgeo.gdal")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "no chromium binary: `make bootstrap` installs Debian's chromium package"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--user-data-dir=" + str(shot.parent / "chromium-profile"),
                    f"--window-size={size[0]},{size[1]}", f"--screenshot={shot}",
                    page.as_uri()], check=True, capture_output=True, timeout=180)
    return gdal.Open(str(shot)).ReadAsArray()[:3].transpose(1, 2, 0)


def test_qnr_report_renders_in_headless_chromium(dos_pair, tmp_path):
    """The page a user opens: rendered offline by a real browser, the table and the inline
    pictures appear (a page whose images failed to decode renders only text colours)."""
    from engine.metrics.evaluation import evaluate_qnr_files

    pan, ms, fused = dos_pair
    report = tmp_path / "quality.html"
    evaluate_qnr_files(fused, pan, ms, "WorldView-3", report_path=str(report))
    img = _chromium_screenshot(report, tmp_path / "report.png")
    assert img.shape == (1400, 1040, 3)
    colours = len(np.unique(img.reshape(-1, 3), axis=0))
    broken = tmp_path / "broken.html"  # the same page with its pictures removed
    broken.write_text(re.sub(r"src='data:image/png;base64,[^']+'", "src=''",
                             report.read_text()))
    text_only = len(np.unique(_chromium_screenshot(broken, tmp_path / "broken.png")
                              .reshape(-1, 3), axis=0))
    assert colours > 3 * text_only and colours > 5000, (colours, text_only)
