"""The ``pantiny`` Processing provider.  Loading it never imports torch."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from .meta import ICON_PATH, plugin_version

#: Output raster extensions offered in the dialogs (GeoTIFF is the default).
OUTPUT_RASTER_EXTENSIONS = ("tif", "tiff", "img")


class PanTinyProvider(QgsProcessingProvider):
    """Provider id ``pantiny`` (fixed forever: it prefixes every algorithm id)."""

    def id(self) -> str:  # noqa: A003 (QGIS API name)
        return "pantiny"

    def name(self) -> str:
        return self.tr("PanTiny")

    def longName(self) -> str:  # noqa: N802
        return self.tr("PanTiny pan-sharpening") + f" {plugin_version()}"

    def versionInfo(self) -> str:  # noqa: N802
        return plugin_version()

    def icon(self) -> QIcon:
        return QIcon(ICON_PATH)

    def svgIconPath(self) -> str:  # noqa: N802
        return ICON_PATH

    def supportedOutputRasterLayerExtensions(self) -> list[str]:  # noqa: N802
        """Formats engine.io.raster_io.RasterWriter writes block by block (GeoTIFF first)."""
        return list(OUTPUT_RASTER_EXTENSIONS)

    def loadAlgorithms(self) -> None:  # noqa: N802
        """Add one instance of every algorithm class listed in ``algorithms.ALGORITHMS``.

        Algorithm modules import torch lazily (inside ``processAlgorithm``), so the
        provider loads, and lists its algorithms, in a QGIS without PyTorch.
        """
        from .algorithms import ALGORITHMS

        for algorithm_class in ALGORITHMS:
            self.addAlgorithm(algorithm_class())

    def tr(self, text: str) -> str:
        return QCoreApplication.translate("PanTinyProvider", text)
